# postbote - build, test and run.  See README.md.
#
#   make          optimized build/postbote
#   make run      install missing packages, build, run with embedded defaults
#   make test     install missing packages, ASan+UBSan build, unit + fuzz
#                 regression + integration tests
#   make check    unit tests only (ASan+UBSan)
#   make layers   the layout check of docs/architecture.md
#   make itest    integration tests only (ASan+UBSan binary)
#   make fuzz     libFuzzer targets (clang) in build/fuzz/
#   make fuzz-run a bounded run of each of them (FUZZ_SECONDS, 15)

CC	?= cc
PKGS	 = libevent libevent_pthreads libevent_openssl libcares openssl libcrypt zlib \
	   libseccomp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN	 = -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wpointer-arith \
	   -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(PKG_CFLAGS) -Isrc
LIBS	 = $(PKG_LIBS) -pthread

OPT_CFLAGS  = $(BASE_CFLAGS) -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong
SAN	    = -fsanitize=address,undefined -fno-sanitize-recover=undefined
# The test build also has the hooks the integration tests drive
# (POSTBOTE_TEST_HOOKS: a forbidden system call on SIGUSR2, sandbox.c).
SAN_CFLAGS  = $(BASE_CFLAGS) -O1 -g -fno-omit-frame-pointer $(SAN) \
	      -DPOSTBOTE_TEST_HOOKS

# One folder per layer or process (docs/architecture.md); every object
# also writes its header dependencies (-MMD -MP), so a changed header
# rebuilds only what includes it.
SRCS	 := $(wildcard src/*/*.c)
LIBSRCS	 := $(filter-out src/cli/main.c,$(SRCS))
UNITS	 := $(wildcard tests/unit/test_*.c)
FUZZERS	 := $(wildcard tests/fuzz/fuzz_*.c)
PYTHON	 = /usr/bin/python3

OPT_OBJS := $(SRCS:src/%.c=build/obj/%.o)
SAN_LIB_OBJS := $(LIBSRCS:src/%.c=build/asan/obj/%.o)
UNIT_BINS := $(UNITS:tests/unit/%.c=build/asan/tests/%)
FUZZ_BINS := $(FUZZERS:tests/fuzz/%.c=build/fuzz/%)
REPLAY_BINS := $(FUZZERS:tests/fuzz/%.c=build/asan/replay/%)

.PHONY: all deps run test check itest fuzz fuzz-regress fuzz-run clean asan bench \
	bench-dkim layers \
	bench-tls bench-auth bench-out bench-lmtp bench-deps bench-compare

all: build/postbote

deps:
	@sh scripts/deps.sh

DEPFLAGS = -MMD -MP

build/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(OPT_CFLAGS) $(DEPFLAGS) -c -o $@ $<

build/postbote: $(OPT_OBJS)
	$(CC) -o $@ $(OPT_OBJS) $(LIBS)

build/asan/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(DEPFLAGS) -c -o $@ $<

build/asan/libpostbote.a: $(SAN_LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

build/asan/postbote: build/asan/obj/cli/main.o build/asan/libpostbote.a
	$(CC) $(SAN) -o $@ $^ $(LIBS)

asan: build/asan/postbote

build/asan/tests/%: tests/unit/%.c build/asan/libpostbote.a | build/asan/tests
	$(CC) $(SAN_CFLAGS) $(DEPFLAGS) -o $@ $< build/asan/libpostbote.a -lcmocka $(LIBS)

build/asan/tests build/asan/replay build/fuzz:
	mkdir -p $@

check: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do \
		echo "== $$t"; $$t || fail=1; done; exit $$fail

# libFuzzer targets, for fuzzing (make fuzz); make test replays their
# corpora through build/asan/replay (below).
FUZZ_SAN    = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = $(BASE_CFLAGS) -g -O1 $(FUZZ_SAN)
FUZZ_OBJS  := $(LIBSRCS:src/%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%.o: src/%.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) $(DEPFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
build/fuzz/libpostbote.a: $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $^
build/fuzz/%: tests/fuzz/%.c build/fuzz/libpostbote.a | build/fuzz
	clang $(FUZZ_CFLAGS) $(DEPFLAGS) -fsanitize=fuzzer -o $@ $< build/fuzz/libpostbote.a $(LIBS)

fuzz: $(FUZZ_BINS)

# A bounded run of every libFuzzer target, FUZZ_SECONDS each, part of
# make test when clang is there.  New inputs go to a scratch corpus in
# build/; a crash is kept in the target's corpus (tests/fuzz/corpus/NAME/,
# as crash-HASH) so that the replay finds it from then on, and the run
# fails.
FUZZ_SECONDS ?= 15
HAVE_CLANG := $(shell command -v clang >/dev/null 2>&1 && echo yes)
fuzz-run: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$${f#build/fuzz/fuzz_}; \
		d=tests/fuzz/corpus/$$n; mkdir -p $$d build/fuzz/scratch/$$n; \
		echo "== $$f ($(FUZZ_SECONDS) s)"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		    -artifact_prefix=$$d/crash- build/fuzz/scratch/$$n $$d \
		    > build/fuzz/$$n.log 2>&1 || \
		    { tail -40 build/fuzz/$$n.log; exit 1; }; \
		grep -h "^#[0-9]*.*DONE" build/fuzz/$$n.log | tail -1; done

# The corpora are replayed by the same targets linked with the ASan+UBSan
# library and a small driver (tests/fuzz/replay.c) instead of libFuzzer.
build/asan/replay/%: tests/fuzz/%.c tests/fuzz/replay.c build/asan/libpostbote.a | build/asan/replay
	$(CC) $(SAN_CFLAGS) $(DEPFLAGS) -o $@ $< tests/fuzz/replay.c build/asan/libpostbote.a $(LIBS)

fuzz-regress: $(REPLAY_BINS)
	@for f in $(REPLAY_BINS); do n=$${f#build/asan/replay/fuzz_}; \
		d=tests/fuzz/corpus/$$n; [ -d $$d ] || continue; \
		echo "== $$f ($$(ls $$d | wc -l) inputs)"; \
		$$f $$d >/dev/null 2>build/asan/replay/$$n.log || \
		{ cat build/asan/replay/$$n.log; exit 1; }; done

# Two pytest workers (python3-pytest-xdist), a test file per worker at a
# time; each worker takes its loopback ports from its own range.
XDIST = $(shell $(PYTHON) -c 'import xdist' 2>/dev/null && \
	echo "-n 2 --dist loadfile")
itest: build/asan/postbote
	POSTBOTE_BIN=$(CURDIR)/build/asan/postbote $(PYTHON) -m pytest -q \
		-p no:cacheprovider $(XDIST) tests/integration

# The layout of docs/architecture.md: layers, no cycles, names, and the
# src/ paths the documents name (LIST=1: each folder's files; REACH=1:
# what each process reaches).
LAYERS_FLAGS = $(if $(LIST),--list) $(if $(REACH),--reach)
layers: build/postbote
	$(PYTHON) scripts/layers.py --objs build/obj $(LAYERS_FLAGS)

test: deps
	$(MAKE) -j2 $(UNIT_BINS) build/asan/postbote build/postbote \
		$(REPLAY_BINS) $(if $(HAVE_CLANG),$(FUZZ_BINS))
	$(MAKE) layers
	$(MAKE) check
	$(MAKE) fuzz-regress
	$(if $(HAVE_CLANG),$(MAKE) fuzz-run)
	$(MAKE) itest

run: deps
	$(MAKE) -j2 build/postbote
	./build/postbote serve

bench-deps:
	@sh scripts/bench-deps.sh

bench: deps bench-deps build/postbote
	bash bench/smtp-source.sh

bench-compare: deps bench-deps build/postbote
	$(PYTHON) bench/compare.py

bench-out: deps bench-deps build/postbote
	bash bench/outbound.sh

bench-lmtp: deps bench-deps build/postbote
	bash bench/lmtp.sh

clean:
	rm -rf build

build/dkim_bench: bench/dkim_bench.c $(filter-out build/obj/cli/main.o,$(OPT_OBJS))
	$(CC) $(OPT_CFLAGS) -o $@ $^ $(LIBS)

bench-dkim: build/dkim_bench
	./build/dkim_bench

# Full TLS handshakes per second on an implicit-TLS listener (openssl s_time).
bench-tls: build/postbote
	bash bench/tls-handshake.sh
# AUTH verifications per second (yescrypt, default cost) over real logins.
bench-auth: build/postbote
	$(PYTHON) bench/auth_bench.py

DEPS := $(OPT_OBJS:.o=.d) $(SAN_LIB_OBJS:.o=.d) build/asan/obj/cli/main.d \
	$(FUZZ_OBJS:.o=.d) $(UNIT_BINS:=.d) $(REPLAY_BINS:=.d) $(FUZZ_BINS:=.d)
-include $(DEPS)
