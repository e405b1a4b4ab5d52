# The two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
PKGS    ?= ./...
FUZZTIME ?= 10s

.PHONY: run build test race lint fuzz interop bench soak storm cover tidy-check

run:
	$(GO) run ./cmd/sipedge

build:
	$(GO) build -o bin/sipedge ./cmd/sipedge

# test is what CI runs: vet, the race-enabled suite, then the interop suite.
test: lint race interop

race:
	$(GO) test -race -shuffle=on -count=1 -timeout 15m $(PKGS)
	# Race builds read UDP one datagram at a time (proxy/race_on.go): the
	# batch reader's tests, and calls through its yield after each hand-off
	# to sipgo, again without -race.
	$(GO) test -count=1 -run 'TestUDPBatch|TestRaw|TestFastPath|TestBatch|TestDialogFastPath|TestStatelessChallenge|TestCall' ./proxy/

lint:
	@fmt="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet $(PKGS)
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck $(PKGS); \
	elif [ -x "$$($(GO) env GOPATH)/bin/staticcheck" ]; then "$$($(GO) env GOPATH)/bin/staticcheck" $(PKGS); \
	else echo "staticcheck not installed (go install honnef.co/go/tools/cmd/staticcheck@latest)"; fi

# fuzz runs every Fuzz target for FUZZTIME each, a duration or a count such as
# 3000x (CI: 25 targets, about two minutes at 3000x,
# counting each package's instrumented build); crashers land in testdata/fuzz.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# interop drives real SIP clients from Debian (SIPp, baresip) against a running
# sipedge, then attack tools (sipvicious, sipsak) at it.
interop:
	./interop/run.sh
	./interop/notify.sh
	./interop/call.sh
	./interop/baresip.sh
	./interop/attack.sh

bench:
	./bench/peers/run.sh

# soak: mixed REGISTER and call traffic at 80% of measured capacity for 10
# minutes (SOAK_SECONDS), sampling heap, goroutines and RSS.
soak:
	./bench/soak.sh

# storm: 100,000 phones (STORM_DEVICES) imported with `sipedge import`,
# registered, sipedge restarted, then all re-register within a minute
# (STORM_WINDOW) and again at twice that rate; prints a Markdown table.
storm:
	./bench/storm.sh

cover:
	$(GO) test -coverprofile=cover.out $(PKGS) && $(GO) tool cover -func=cover.out | tail -1

tidy-check:
	$(GO) mod tidy -diff
