# `make start`: install everything and start Maestro on the embedded default
#               (SQLite + local artifacts + in-process worker) at http://127.0.0.1:8000
# `make test`:  install everything and run the whole test suite
#               (unit; integration on SQLite and on PostgreSQL + Redis; end-to-end)
.PHONY: start test
start:
	@scripts/dev.sh start $(ARGS)
test:
	@scripts/dev.sh test
