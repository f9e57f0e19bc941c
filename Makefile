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
#   make fuzz-run a bounded run of each of them (FUZZ_SECONDS, 10)
#   make install  binary, sendmail/mailq/newaliases links, man pages,
#                 systemd unit, example config (PREFIX, DESTDIR, ...)
#   make uninstall  the same, removed (config and state are kept)
#   make man      man/postbote.conf.5 from docs/config.md

CC	?= cc
PKGS	 = libevent libevent_pthreads libevent_openssl libcares openssl libcrypt zlib \
	   lmdb libseccomp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN	 = -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wpointer-arith \
	   -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
# Where "make install" puts things.  The config directory is compiled in
# (CONF_DEFAULT_PATH) only when it is not the default /etc.
PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
UNITDIR	?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
CONFDIR	 = $(SYSCONFDIR)/postbote
STATEDIR ?= /var/lib/postbote
CONF_DEF = $(if $(filter-out /etc,$(SYSCONFDIR)),\
	   -DCONF_DEFAULT_PATH='"$(CONFDIR)/postbote.conf"')
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(PKG_CFLAGS) -Isrc \
	   $(CONF_DEF)
# The objects that use CONF_DEFAULT_PATH are built again when the config
# directory changes (build/confdir keeps the last one), so that
# "make SYSCONFDIR=... install" after a plain "make" does not install a
# binary that looks in /etc/postbote.
CONF_USERS = common/conf cli/main cli/cmd_queue
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
	bench-dkim layers install uninstall man doc-check \
	bench-tls bench-auth bench-out bench-lmtp bench-deps bench-compare \
	bench-milter bench-idle

all: build/postbote

deps:
	@sh scripts/deps.sh

.PHONY: FORCE
build/confdir: FORCE
	@mkdir -p build; echo '$(CONFDIR)' | cmp -s - $@ 2>/dev/null || \
		echo '$(CONFDIR)' > $@
$(foreach u,$(CONF_USERS),build/obj/$(u).o build/asan/obj/$(u).o \
	build/fuzz/obj/$(u).o): build/confdir

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
FUZZ_SECONDS ?= 10
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
	$(MAKE) doc-check
	$(MAKE) check
	$(MAKE) fuzz-regress
	$(if $(HAVE_CLANG),$(MAKE) fuzz-run)
	$(MAKE) itest

run: deps
	$(MAKE) -j2 build/postbote
	./build/postbote serve --defaults

bench-deps:
	@sh scripts/bench-deps.sh

bench: deps bench-deps build/postbote
	bash bench/smtp-source.sh

# What an idle plain and an idle TLS session cost smtpd, in KiB.
bench-idle: build/postbote
	$(PYTHON) bench/idle_memory.py

bench-compare: deps bench-deps build/postbote
	$(PYTHON) bench/compare.py

bench-out: deps bench-deps build/postbote
	bash bench/outbound.sh

bench-lmtp: deps bench-deps build/postbote
	bash bench/lmtp.sh

# smtp-source through one milter that answers continue, next to none.
bench-milter: deps bench-deps build/postbote
	bash bench/milter.sh

clean:
	rm -rf build

# ---- documentation and installation ----

MAN_PAGES = man/postbote.8 man/postbote.conf.5 man/sendmail.1

man: man/postbote.conf.5
man/postbote.conf.5: docs/config.md scripts/man-conf.py
	$(PYTHON) scripts/man-conf.py docs/config.md > $@.tmp && mv $@.tmp $@

# Every config key documented in docs/config.md and postbote.conf(5),
# the page up to date, and the man pages free of groff warnings.
doc-check:
	$(PYTHON) scripts/check-keys.py
	@$(PYTHON) scripts/man-conf.py docs/config.md | \
		cmp -s - man/postbote.conf.5 || { echo "man/postbote.conf.5" \
		"is older than docs/config.md: run make man"; exit 1; }
	@for m in $(MAN_PAGES); do w=$$(groff -man -Tutf8 -ww -z $$m 2>&1); \
		[ -z "$$w" ] || { echo "$$m: $$w"; exit 1; }; done

# DESTDIR stages the tree (packaging, tests).  The example config and the
# empty users and aliases files are installed only where none exists;
# state_dir is made by the server at its start (and here, empty).
# INSTALL_BIN: the binary to install (the tests install the one they test).
INSTALL_BIN ?= build/postbote
REL_SBIN = $$(realpath -m --relative-to=$(BINDIR) $(SBINDIR))/postbote
install: $(INSTALL_BIN)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(CONFDIR)
	install -d -m 0755 $(DESTDIR)$(STATEDIR)
	install -m 0755 $(INSTALL_BIN) $(DESTDIR)$(SBINDIR)/postbote
	ln -sf postbote $(DESTDIR)$(SBINDIR)/sendmail
	ln -sf $(REL_SBIN) $(DESTDIR)$(BINDIR)/mailq
	ln -sf $(REL_SBIN) $(DESTDIR)$(BINDIR)/newaliases
	install -m 0644 man/postbote.8 $(DESTDIR)$(MANDIR)/man8/postbote.8
	install -m 0644 man/postbote.conf.5 \
		$(DESTDIR)$(MANDIR)/man5/postbote.conf.5
	install -m 0644 man/sendmail.1 $(DESTDIR)$(MANDIR)/man1/sendmail.1
	for l in mailq newaliases; do \
		echo ".so man1/sendmail.1" > $(DESTDIR)$(MANDIR)/man1/$$l.1; done
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@STATEDIR@|$(STATEDIR)|g' \
		etc/postbote.service.in > $(DESTDIR)$(UNITDIR)/postbote.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/postbote.service
	@if [ -e $(DESTDIR)$(CONFDIR)/postbote.conf ]; then \
		echo "kept the existing $(DESTDIR)$(CONFDIR)/postbote.conf"; \
	else sed -e 's|^state_dir .*|state_dir = $(STATEDIR)|' \
		-e 's|/etc/postbote/|$(CONFDIR)/|g' etc/postbote.conf \
		> $(DESTDIR)$(CONFDIR)/postbote.conf && \
		chmod 0644 $(DESTDIR)$(CONFDIR)/postbote.conf && \
		echo "installed $(DESTDIR)$(CONFDIR)/postbote.conf"; fi
	@for t in users aliases; do f=$(DESTDIR)$(CONFDIR)/$$t; \
		[ -e $$f ] || install -m 0640 /dev/null $$f; done

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/postbote $(DESTDIR)$(UNITDIR)/postbote.service
	for l in $(DESTDIR)$(SBINDIR)/sendmail $(DESTDIR)$(BINDIR)/mailq \
		$(DESTDIR)$(BINDIR)/newaliases; do \
		[ ! -L $$l ] || case $$(readlink $$l) in \
		*postbote) rm -f $$l;; esac; done
	rm -f $(DESTDIR)$(MANDIR)/man8/postbote.8 \
		$(DESTDIR)$(MANDIR)/man5/postbote.conf.5 \
		$(DESTDIR)$(MANDIR)/man1/sendmail.1 \
		$(DESTDIR)$(MANDIR)/man1/mailq.1 \
		$(DESTDIR)$(MANDIR)/man1/newaliases.1
	@echo "kept $(DESTDIR)$(CONFDIR) and $(DESTDIR)$(STATEDIR): remove" \
		"them by hand when they are no longer wanted"

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
