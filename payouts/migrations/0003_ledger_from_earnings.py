"""Every Earning written before the ledger existed becomes its ledger transaction, under the
same key the services use (`earning:<id>`), so the ledger starts complete."""

from django.db import migrations

# Copied from payouts.ledger on purpose: a migration must keep meaning what it meant when it
# was written, whatever the services become.
AGENT, BRAND = "agent", "brand"
AGENT_PENDING, BRAND_PAYABLE = "agent_pending", "brand_payable"
CARRIED_MEMO = "carried from the earnings written before the ledger"


def earning_key(earning_id: int) -> str:
    return f"earning:{earning_id}"


def carry_earnings(apps, schema_editor):
    Earning = apps.get_model("payouts", "Earning")
    LedgerAccount = apps.get_model("payouts", "LedgerAccount")
    LedgerTransaction = apps.get_model("payouts", "LedgerTransaction")
    LedgerPosting = apps.get_model("payouts", "LedgerPosting")
    accounts: dict[tuple, int] = {}

    def account(kind: str, owner_id: int, purpose: str, currency: str) -> int:
        ident = (kind, owner_id, purpose, currency)
        if ident not in accounts:
            row, _ = LedgerAccount.objects.get_or_create(
                owner_kind=kind, owner_id=owner_id, purpose=purpose, currency=currency
            )
            accounts[ident] = row.pk
        return accounts[ident]

    done = set(LedgerTransaction.objects.filter(earning_id__isnull=False).values_list("key", flat=True))
    for earning in Earning.objects.order_by("pk").iterator():
        key = earning_key(earning.pk)
        if key in done:
            continue
        txn = LedgerTransaction.objects.create(
            kind=earning.kind,
            memo=CARRIED_MEMO,
            key=key,
            currency=earning.currency,
            ticket_id=earning.ticket_id,
            earning_id=earning.pk,
            created_at=earning.created_at,
        )
        LedgerPosting.objects.bulk_create(
            [
                LedgerPosting(
                    transaction=txn,
                    account_id=account(BRAND, earning.brand_id, BRAND_PAYABLE, earning.currency),
                    amount_minor=-earning.amount_minor,
                    currency=earning.currency,
                ),
                LedgerPosting(
                    transaction=txn,
                    account_id=account(AGENT, earning.agent_id, AGENT_PENDING, earning.currency),
                    amount_minor=earning.amount_minor,
                    currency=earning.currency,
                ),
            ]
        )


def drop_carried(apps, schema_editor):
    """Backwards: remove the transactions this migration carried over (the earnings they were
    built from stay), and nothing posted later by the services. The append-only triggers are
    switched off for these deletes only, inside this migration's transaction."""
    LedgerAccount = apps.get_model("payouts", "LedgerAccount")
    LedgerTransaction = apps.get_model("payouts", "LedgerTransaction")
    LedgerPosting = apps.get_model("payouts", "LedgerPosting")
    postgres = schema_editor.connection.vendor == "postgresql"
    tables = [LedgerPosting._meta.db_table, LedgerTransaction._meta.db_table]
    quote = schema_editor.quote_name
    if postgres:
        # Foreign-key checks are deferred; ENABLE TRIGGER refuses a table with checks still
        # pending, so the deletes below check theirs at once.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in tables:
            schema_editor.execute(f"ALTER TABLE {quote(table)} DISABLE TRIGGER USER")
    carried = LedgerTransaction.objects.filter(memo=CARRIED_MEMO)
    LedgerPosting.objects.filter(transaction__in=carried).delete()
    carried.delete()
    LedgerAccount.objects.filter(postings__isnull=True).delete()
    if postgres:
        for table in tables:
            schema_editor.execute(f"ALTER TABLE {quote(table)} ENABLE TRIGGER USER")
        schema_editor.execute("SET CONSTRAINTS ALL DEFERRED")


class Migration(migrations.Migration):
    dependencies = [("payouts", "0002_ledger")]

    operations = [migrations.RunPython(carry_earnings, drop_carried)]
