# Switchboard's developer commands. `make test` is the test command CI runs.
GO ?= go
# PostgreSQL for the test suite; unset it to test on SQLite only.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable

.PHONY: run test test-race test-plain fuzz lint generate css check-generated bench bench-http bench-http-short fleet fleet-down fleet-load fleet-check

run:
	$(GO) run ./cmd/switchboard

# Runs every test on SQLite and, when TEST_DATABASE_URL answers, PostgreSQL,
# in two halves at once (each half's output is printed whole when it ends).
# The race detector runs over the models' tests (the recorders, limiters,
# throttles and the key cache live there) and over the handlers' tests of
# requests that meet (RACE_HANDLER_TESTS); every test, those included, also
# runs without it: under the detector the whole handlers suite takes five
# times as long and finds nothing those do not.
# The SDK conformance test drives the JavaScript SDK pinned in e2e/sdk.
test: e2e/sdk/node_modules
	@$(MAKE) --no-print-directory -j2 -Otarget test-race test-plain

# The two halves of `make test`.
RACE_HANDLER_TESTS = AtOnce|Concurren|Racing|Together|Twice|Tabs|AcrossServers|Drain|Health|Metrics|Ready|Recover|RateLimit|Throttle|Usage|Revok|Replay
# (The handlers' share of the race detector runs in the other half, which
# ends sooner.)
test-race:
	TEST_DATABASE_URL="$(TEST_DATABASE_URL)" $(GO) test -count=1 -timeout 20m -race ./models/...
test-plain:
	TEST_DATABASE_URL="$(TEST_DATABASE_URL)" $(GO) test -count=1 -timeout 20m $$($(GO) list ./... | grep -v -e '^switchboard/models')
	TEST_DATABASE_URL="$(TEST_DATABASE_URL)" $(GO) test -count=1 -timeout 20m -race -run '$(RACE_HANDLER_TESTS)' ./handlers/

# Fuzzing, beyond the seed inputs `make test` runs: the SAML ACS and the
# SCIM filter parser, FUZZTIME each. (Not in CI: instrumenting every
# dependency for it takes minutes before the first input.)
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzACS -fuzztime $(FUZZTIME) ./handlers/
	$(GO) test -run '^$$' -fuzz FuzzParseUserFilter -fuzztime $(FUZZTIME) ./models/scim/

e2e/sdk/node_modules: e2e/sdk/package.json e2e/sdk/package-lock.json
	npm ci --no-audit --no-fund --prefix e2e/sdk
	touch e2e/sdk/node_modules

# staticcheck (pinned in go.mod as a tool) and go vet.
lint:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

generate:
	$(GO) tool templ generate

css: node_modules
	npx tailwindcss -c tailwind.config.js -i static/src/app.css -o static/css/app.css --minify

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch node_modules

# Fails when the committed templ output or stylesheet is out of date.
check-generated: generate css
	git diff --exit-code -- views static/css

bench:
	TEST_DATABASE_URL="$(TEST_DATABASE_URL)" $(GO) test -run '^$$' -bench . -benchtime 200x ./handlers/

# The HTTP benchmark (cmd/benchhttp): seeds one organization with 50
# members and 10,000 indexes into a database of its own, starts the server
# and runs wrk (installed with apt-get when missing) over the API, the
# organization home, the members page, the index list and a static file,
# printing req/s, p50/p99, the server's and PostgreSQL's CPU per request,
# statements per request and RSS. BENCH_DB=sqlite for SQLite;
# BENCH_FLAGS="-redis-url redis://127.0.0.1:6379/0" for the Redis limiter.
BENCH_DB ?= postgres
BENCH_FLAGS ?=
bench-http:
	TEST_DATABASE_URL="$(TEST_DATABASE_URL)" $(GO) run ./cmd/benchhttp -db $(BENCH_DB) -duration 20s -warmup 3s $(BENCH_FLAGS)

# The short form CI runs: 5 s per target.
bench-http-short:
	TEST_DATABASE_URL="$(TEST_DATABASE_URL)" $(GO) run ./cmd/benchhttp -db $(BENCH_DB) -duration 5s -warmup 1s $(BENCH_FLAGS)

# A fleet on loopback: three replicas behind HAProxy, with the machine's
# PostgreSQL and a Redis of its own (deploy/fleet; needs haproxy and
# redis-server). `make fleet-down` stops exactly what it started.
fleet:
	deploy/fleet up

fleet-down:
	deploy/fleet down

# Load and faults against the running fleet, the long form: 256
# connections for 60 s with a rolling restart, a PostgreSQL restart, Redis
# down and a kill -9, then a 5-minute soak.
fleet-load:
	$(GO) run ./deploy/loadtest -connections 256 -duration 60s -faults rolling,postgres,redis,kill9 -soak 5m

# The short form CI runs: its own fleet, 64 connections for 25 s, one
# rolling restart and one PostgreSQL restart.
fleet-check:
	SWITCHBOARD_DRAIN=3s deploy/fleet up
	$(GO) run ./deploy/loadtest -connections 64 -duration 25s -faults rolling,postgres,redis; \
	  status=$$?; deploy/fleet down; exit $$status
