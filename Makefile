.PHONY: run test bench messages
run:
	./scripts/run.sh
test:
	./scripts/test.sh
bench:
	./scripts/bench.sh $(ARGS)
messages:
	./scripts/messages.sh
