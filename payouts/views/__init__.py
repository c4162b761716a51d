"""Pay pages, one module per audience: `agent` (earnings, cash-out, payout method),
`statements` (the agent's monthly CSV and PDF), `supervisor` (batches, bank files, totals)."""
