# collector-agent — GNU Make build.
#
#   make            build the library and programs into build/
#   make check      install missing Debian packages, build, run every test
#                   (unit, CLI, integration; fault injection; again under
#                   ASan+UBSan; the unit tests under valgrind; short fuzz runs)
#   make run        install missing packages, build, run the agent (development config)
#   make bench      print speed figures next to a reference run in the same call
#                   (BENCH_QUICK=1: the same rows at small sizes, in seconds)
#   make bench-scale  N agents sending remote write to one local VictoriaMetrics
#   make fuzz       longer fuzz runs (FUZZ_SECONDS=N per target)
#   make install    PREFIX, DESTDIR, BINDIR, LIBDIR, INCLUDEDIR, MANDIR honoured

VERSION     := 0.1.0
SOVERSION   := 0

PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
MANDIR      ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR     ?=

CC          ?= cc
PKG_CONFIG  ?= pkg-config
B           ?= build

WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
        -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wvla -Wswitch-enum \
        -Wundef -Wwrite-strings
OPT         ?= -O2 -g
SAN         ?=
# Each object also writes the headers it read into a .d file beside it
# (-MMD; -MP: a header removed later is no error), included below, so that
# a header change rebuilds only what includes it.
DEPFLAGS     = -MMD -MP -MT $@ -MF $(basename $@).d
# A target without its .d (a first build, or a tree built before there were
# any) is out of date; with one, what the .d lists decides. (Not the .d as a
# prerequisite: clang writes it after the object, so it would look newer.)
.SECONDEXPANSION:
NODEP        = $$(if $$(wildcard $$(basename $$@).d),,FORCE)
CFLAGS_BASE  = $(WARN) $(OPT) $(SAN) -fPIC -fvisibility=hidden -pthread \
               -DSPOOL_VERSION='"$(VERSION)"' -Ispool $(CFLAGS)
# The writers' library (and collector-spool) need SQLite and nothing else:
# no agent package, no protoc-c.
LIB_CFLAGS   = $(CFLAGS_BASE) $(SQLITE_CFLAGS)
CFLAGS_ALL   = $(CFLAGS_BASE) -Iagent -I$(GEN) $(SQLITE_CFLAGS) $(AGENT_CFLAGS)
# Code generated at build time (protoc-c from agent/remote.proto and
# agent/metrics.proto).
GEN          = $(B)/gen
GEN_H        = $(B)/gen/remote.pb-c.h $(B)/gen/metrics.pb-c.h
LD          ?= ld
OBJCOPY     ?= objcopy

# Quiet by default: one short line per step ("  CC      agent/push.o"), so
# that a warning stands out; make V=1 prints every command line instead.
V           ?= 0
ifeq ($(V),1)
Q           :=
say         := @:
else
Q           := @
say          = @printf '  %-7s %s\n' $(1) '$(patsubst $(B)/%,%,$(2))'
endif

# Libraries come from pkg-config; a missing .pc file is a missing -dev package
# ('make deps' installs it). Each is asked for only when a rule uses it.
SQLITE_CFLAGS = $(shell $(PKG_CONFIG) --cflags sqlite3 2>/dev/null)
SQLITE_LIBS   = $(shell $(PKG_CONFIG) --libs sqlite3 2>/dev/null)
CMOCKA_LIBS   = $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)
AGENT_PKGS    = libcurl libconfig libmicrohttpd zlib libprotobuf-c snappy
AGENT_CFLAGS  = $(shell $(PKG_CONFIG) --cflags $(AGENT_PKGS) 2>/dev/null)
AGENT_LIBS    = $(shell $(PKG_CONFIG) --libs $(AGENT_PKGS) 2>/dev/null)

# The library is every spool/*.c but the program's: a new module is picked
# up without a change here.
LIB_SRC  := $(sort $(filter-out spool/cli.c,$(wildcard spool/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
# What the programs, the tests and the helpers link: every object, every
# symbol (the agent's calls of spool-agent.h, the hooks of spool-test.h).
LIB_INT_A := $(B)/libspool-internal.a
# The installed libraries export the writers' API (SPOOL_API) and nothing
# else: the .so through -fvisibility=hidden; the .a is one relocatable
# object whose hidden symbols are made local, since nm and the static
# linker see hidden symbols of an archive's members as global.
LIB_A    := $(B)/libcollector-spool.a
LIB_SO   := $(B)/libcollector-spool.so.$(VERSION)
# The agent's modules (everything in agent/ but its main) go into one
# archive that the program, the unit tests and the fuzzers link.
AGENT_SRC := $(sort $(filter-out agent/main.c,$(wildcard agent/*.c)))
AGENT_OBJ := $(AGENT_SRC:%.c=$(B)/%.o) $(B)/gen/remote.pb-c.o \
             $(B)/gen/metrics.pb-c.o
AGENT_A   := $(if $(AGENT_SRC),$(B)/libcollector-agent.a)
PROGS    := $(B)/collector-spool $(if $(wildcard agent/main.c),$(B)/collector-agent)

UNIT_TESTS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))
HELPERS    := $(patsubst tests/helpers/%.c,$(B)/tests/%,$(wildcard tests/helpers/*.c))

.PHONY: all lib deps check test test-build asan valgrind faults fuzz fuzz-build bench bench-scale run \
        install uninstall clean checksrc FORCE
.DEFAULT_GOAL := all

all: $(LIB_A) $(LIB_SO) $(AGENT_A) $(PROGS) $(B)/collector-spool.pc

# The writers' library alone: it needs only SQLite.
lib: $(LIB_A) $(LIB_SO) $(B)/collector-spool.pc

# The library and collector-spool: SQLite's flags only.
$(B)/spool/%.o: spool/%.c $(NODEP) | $(B)/.dirs
	$(call say,CC,$@)
	$(Q)$(CC) $(LIB_CFLAGS) $(DEPFLAGS) -c $< -o $@

# The agent's objects include the generated protobuf headers (rw.c,
# pbexpo.c), which must exist before the first build has its .d files.
$(B)/agent/%.o: agent/%.c $(NODEP) | $(B)/.dirs $(GEN_H)
	$(call say,CC,$@)
	$(Q)$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -c $< -o $@


# The remote-write protobuf; generated code is compiled without our
# warnings (it casts const away in its initialisers). One run of protoc-c
# writes both files (&:), also under make -j.
$(B)/gen/remote.pb-c.c $(B)/gen/remote.pb-c.h &: agent/remote.proto
	@mkdir -p $(B)/gen
	$(call say,PROTOC,$<)
	$(Q)protoc-c --proto_path=agent --c_out=$(B)/gen agent/remote.proto

$(B)/gen/remote.pb-c.o: $(B)/gen/remote.pb-c.c $(B)/gen/remote.pb-c.h
	$(call say,CC,$@)
	$(Q)$(CC) -std=c11 $(OPT) $(SAN) -fPIC -fvisibility=hidden $(AGENT_CFLAGS) \
	    -I$(B)/gen -c $< -o $@

# The exposition format's protobuf (pbexpo.c), the same way.
$(B)/gen/metrics.pb-c.c $(B)/gen/metrics.pb-c.h &: agent/metrics.proto
	@mkdir -p $(B)/gen
	$(call say,PROTOC,$<)
	$(Q)protoc-c --proto_path=agent --c_out=$(B)/gen agent/metrics.proto

$(B)/gen/metrics.pb-c.o: $(B)/gen/metrics.pb-c.c $(B)/gen/metrics.pb-c.h
	$(call say,CC,$@)
	$(Q)$(CC) -std=c11 $(OPT) $(SAN) -fPIC -fvisibility=hidden $(AGENT_CFLAGS) \
	    -I$(B)/gen -c $< -o $@

$(B)/.dirs:
	@mkdir -p $(B)/spool $(B)/tests $(B)/obj/tests $(B)/agent
	@touch $@

$(LIB_INT_A): $(LIB_OBJ)
	$(call say,AR,$@)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(B)/spool/libcollector-spool.o: $(LIB_OBJ)
	$(call say,LD,$@)
	$(Q)$(LD) -r -o $@ $^
	$(Q)$(OBJCOPY) --localize-hidden $@

$(LIB_A): $(B)/spool/libcollector-spool.o
	$(call say,AR,$@)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(LIB_SO): $(LIB_OBJ)
	$(call say,LINK,$@)
	$(Q)$(CC) $(LIB_CFLAGS) -shared -Wl,-soname,libcollector-spool.so.$(SOVERSION) \
	    -o $@ $^ $(SQLITE_LIBS) -lm $(LDFLAGS)
	$(Q)ln -sf libcollector-spool.so.$(VERSION) $(B)/libcollector-spool.so.$(SOVERSION)
	$(Q)ln -sf libcollector-spool.so.$(SOVERSION) $(B)/libcollector-spool.so

$(AGENT_A): $(AGENT_OBJ)
	$(call say,AR,$@)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

# The programs link the library statically: nothing to set up at run time.
$(B)/collector-spool: $(B)/spool/cli.o $(LIB_INT_A)
	$(call say,LINK,$@)
	$(Q)$(CC) $(LIB_CFLAGS) -o $@ $< $(LIB_INT_A) $(SQLITE_LIBS) -lm $(LDFLAGS)

$(B)/collector-agent: $(B)/agent/main.o $(AGENT_A) $(LIB_INT_A)
	$(call say,LINK,$@)
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(AGENT_A) $(LIB_INT_A) $(AGENT_LIBS) \
	    $(SQLITE_LIBS) -lm $(LDFLAGS)

# --- tests -----------------------------------------------------------------

# Compiled, then linked: a changed archive relinks a test, and only a
# header it includes compiles it again. The objects sit apart from the
# programs: tests/run-tests runs every $(B)/tests/test_*.
$(B)/obj/tests/%.o: tests/unit/%.c $(NODEP) | $(B)/.dirs $(GEN_H)
	$(call say,CC,$@)
	$(Q)$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -Itests/unit -c $< -o $@

$(B)/obj/tests/%.o: tests/helpers/%.c $(NODEP) | $(B)/.dirs $(GEN_H)
	$(call say,CC,$@)
	$(Q)$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -c $< -o $@

$(UNIT_TESTS): $(B)/tests/%: $(B)/obj/tests/%.o $(AGENT_A) $(LIB_INT_A)
	$(call say,LINK,$@)
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(AGENT_A) $(LIB_INT_A) $(CMOCKA_LIBS) \
	    $(AGENT_LIBS) $(SQLITE_LIBS) -lm $(LDFLAGS)

$(HELPERS): $(B)/tests/%: $(B)/obj/tests/%.o $(AGENT_A) $(LIB_INT_A)
	$(call say,LINK,$@)
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(AGENT_A) $(LIB_INT_A) $(AGENT_LIBS) \
	    $(SQLITE_LIBS) -lm $(LDFLAGS)

test-build: all $(UNIT_TESTS) $(HELPERS)

# Runs every suite under prove; B selects the build (plain or sanitized).
test: test-build
	tests/run-tests $(B)

ASAN := B=build/asan OPT='-O1 -g -fno-omit-frame-pointer' \
        SAN='-fsanitize=address,undefined -fno-sanitize-recover=all'

asan:
	$(MAKE) $(ASAN) test

# The fault-injection suite (tests/faults): SIGKILLs, gateway restarts, a
# full disk (as root), a replaced spool, a gateway that never answers.
faults: test-build
	tests/faults/run $(B)

# The unit tests under valgrind (memcheck, leaks), from a build of their own
# without sanitizers, which valgrind cannot run.
valgrind:
	$(MAKE) B=build/valgrind OPT='-O1 -g' test-build
	VALGRIND_JOBS=2 tests/valgrind/run build/valgrind

# --- fuzzing (clang libFuzzer) ----------------------------------------------

FUZZ_SECONDS ?= 300
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CFLAGS  := -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=all -pthread -Ispool -Iagent

# The library and the agent are compiled once with coverage for the fuzzer
# (fuzzer-no-link) into one archive that every target links: compiling them
# again for each target took most of the time of a check.
FUZZ_OBJ := $(patsubst %.c,build/fuzz/obj/%.o,$(LIB_SRC) $(AGENT_SRC)) \
            build/fuzz/obj/remote.pb-c.o build/fuzz/obj/metrics.pb-c.o
FUZZ_NOLINK := $(subst fuzzer,fuzzer-no-link,$(FUZZ_CFLAGS))

build/fuzz/obj/%.o: %.c $(NODEP) | build/gen/remote.pb-c.h build/gen/metrics.pb-c.h
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)clang $(FUZZ_NOLINK) $(DEPFLAGS) -Ibuild/gen $(SQLITE_CFLAGS) $(AGENT_CFLAGS) -c $< -o $@

build/fuzz/obj/remote.pb-c.o: build/gen/remote.pb-c.c build/gen/remote.pb-c.h
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)clang $(FUZZ_NOLINK) -Ibuild/gen $(AGENT_CFLAGS) -c $< -o $@

build/fuzz/obj/metrics.pb-c.o: build/gen/metrics.pb-c.c build/gen/metrics.pb-c.h
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)clang $(FUZZ_NOLINK) -Ibuild/gen $(AGENT_CFLAGS) -c $< -o $@

build/fuzz/libfuzzed.a: $(FUZZ_OBJ)
	$(call say,AR,$@)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

build/fuzz/%: tests/fuzz/%.c $(NODEP) build/fuzz/libfuzzed.a
	$(call say,LINK,$@)
	$(Q)clang $(FUZZ_CFLAGS) $(DEPFLAGS) -Ibuild/gen $(SQLITE_CFLAGS) $(AGENT_CFLAGS) -o $@ $< \
	    build/fuzz/libfuzzed.a $(AGENT_LIBS) $(SQLITE_LIBS) -lm

fuzz-build: $(FUZZ_TARGETS)

fuzz: fuzz-build
	tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# --- the two commands ---------------------------------------------------------

BUILD_PKGS := gcc make pkg-config libsqlite3-dev libcurl4-openssl-dev \
              libconfig-dev libmicrohttpd-dev zlib1g-dev libprotobuf-c-dev \
              protobuf-c-compiler libsnappy-dev
TEST_PKGS  := libcmocka-dev clang libclang-rt-14-dev prometheus-pushgateway \
              prometheus valgrind perl python3 sqlite3 python3-prometheus-client curl \
              python3-yaml mandoc man-db systemd victoria-metrics faketime \
              protobuf-compiler python3-protobuf openssl

deps:
	@contrib/deps.sh $(BUILD_PKGS) $(TEST_PKGS)

CHECK_FUZZ_SECONDS ?= 15

# Builds run one compiler per CPU; the suites set their own parallelism.
CHECK_JOBS ?= $(shell nproc 2>/dev/null || echo 1)

# Under check, a suite that skips for want of a tool fails (tests/run-tests).
check: export TESTS_NO_SKIP := 1
check: deps
	$(MAKE) checksrc
	$(MAKE) -j$(CHECK_JOBS) all
	$(MAKE) -j$(CHECK_JOBS) test
	$(MAKE) faults
	$(MAKE) -j$(CHECK_JOBS) asan
	$(MAKE) -j$(CHECK_JOBS) valgrind
	$(MAKE) -j$(CHECK_JOBS) fuzz-build
	tests/fuzz/run $(CHECK_FUZZ_SECONDS) $(FUZZ_TARGETS)

run: deps all
	contrib/run-dev.sh $(B)

# tests/bench/run runs tests/bench/agent and prints the tables of both.
# BENCH_QUICK=1 is the smoke run that make check makes through
# tests/cli/test_bench_quick.sh: every row, small sizes, no speed asserted.
BENCH_QUICK ?=
bench: deps
	$(MAKE) all
	$(MAKE) $(B)/tests/bench_spool $(B)/tests/bench_render $(B)/tests/bench_rw
	tests/bench/run $(B) $(if $(filter-out 0,$(BENCH_QUICK)),--quick)

# The scale-out simulation (SCALE_AGENTS, SCALE_SERIES, SCALE_INTERVAL,
# SCALE_SECONDS; see tests/bench/scale): N agents, each with its own spool
# and writer, sending remote write to one local VictoriaMetrics.
bench-scale: deps
	$(MAKE) all
	tests/bench/scale $(B)

# Refuses the unsafe string functions in our own sources. The pattern
# matches the call itself (the name not preceded by a letter, digit or _):
# snprintf( does not match, and a line with both keeps its sprintf( found.
checksrc:
	@bad=$$(grep -nE '(^|[^[:alnum:]_])(v?sprintf|strcpy|strcat|atoi|strtok|gets)[[:space:]]*\(' \
	    spool/*.c spool/*.h agent/*.c agent/*.h tests/*/*.c tests/*/*.h 2>/dev/null); \
	if [ -n "$$bad" ]; then echo "checksrc: unsafe calls:"; echo "$$bad"; exit 1; fi; \
	echo "checksrc: ok"

# --- install -------------------------------------------------------------------

# /usr installs its settings into /etc; any other prefix keeps them inside.
SYSCONFDIR  ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
DATADIR     ?= $(PREFIX)/share
DOCDIR      ?= $(DATADIR)/doc/collector-agent
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
# The Python package collector_spool goes where Debian's python3 imports it:
# /usr/lib/python3/dist-packages for PREFIX=/usr, PREFIX/lib/python3.X/
# dist-packages for any other (X: the installing python3's; the only
# directory under /usr/local that Debian's python3 reads).
PYTHON3     ?= /usr/bin/python3
PYTHONDIR   ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(shell $(PYTHON3) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)/dist-packages)
PYPKG       := $(wildcard contrib/python/collector_spool/*.py)
MANPAGES    := $(wildcard docs/man/*.[158])
UNITS_IN    := $(wildcard systemd/*.service.in systemd/*.timer.in)
# Units and the .pc file name the installed paths, so they are written at
# install time from their templates.
SUBST = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
            -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
            -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g'

# One rule writes the .pc file, with the paths this make was given: into the
# build tree, and into the installed tree at install time, always (install's
# PREFIX need not be the build's).
PC_INST := $(DESTDIR)$(PKGCONFIGDIR)/collector-spool.pc
$(B)/collector-spool.pc $(PC_INST): spool/collector-spool.pc.in Makefile
	@mkdir -p $(@D)
	$(call say,GEN,$@)
	$(Q)$(SUBST) spool/collector-spool.pc.in > $@.tmp
	$(Q)chmod 0644 $@.tmp
	$(Q)mv -f $@.tmp $@
$(PC_INST): FORCE
FORCE:

install: all $(PC_INST)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(PROGS) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libcollector-spool.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcollector-spool.so.$(SOVERSION)
	ln -sf libcollector-spool.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libcollector-spool.so
	install -m 0644 spool/collector-spool.h $(DESTDIR)$(INCLUDEDIR)/
	for m in $(MANPAGES); do \
	    s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
	    install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	for u in $(UNITS_IN); do n=$${u##*/}; \
	    $(SUBST) $$u > $(DESTDIR)$(UNITDIR)/$${n%.in}; \
	    chmod 0644 $(DESTDIR)$(UNITDIR)/$${n%.in}; done
	if [ -f systemd/collector-agent.sysusers ]; then install -m 0644 \
	    systemd/collector-agent.sysusers $(DESTDIR)$(SYSUSERSDIR)/collector-agent.conf; fi
	if [ -f systemd/collector-agent.tmpfiles ]; then install -m 0644 \
	    systemd/collector-agent.tmpfiles $(DESTDIR)$(TMPFILESDIR)/collector-agent.conf; fi
	install -m 0644 contrib/collector-agent.conf contrib/env.example \
	    contrib/examples/writer.c $(DESTDIR)$(DOCDIR)/examples/
	install -m 0755 contrib/examples/writer.sh contrib/examples/writer.py \
	    $(DESTDIR)$(DOCDIR)/examples/
	install -d $(DESTDIR)$(PYTHONDIR)/collector_spool
	install -m 0644 $(PYPKG) $(DESTDIR)$(PYTHONDIR)/collector_spool/
	# A short configuration of defaults and commented choices, only where
	# there is none yet: an upgrade never overwrites the operator's.
	install -d $(DESTDIR)$(SYSCONFDIR)/collector-agent
	[ -e $(DESTDIR)$(SYSCONFDIR)/collector-agent/collector-agent.conf ] || \
	    install -m 0644 contrib/collector-agent.etc.conf \
	    $(DESTDIR)$(SYSCONFDIR)/collector-agent/collector-agent.conf

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/collector-spool $(DESTDIR)$(BINDIR)/collector-agent \
	    $(DESTDIR)$(LIBDIR)/libcollector-spool.* \
	    $(DESTDIR)$(INCLUDEDIR)/collector-spool.h \
	    $(DESTDIR)$(PKGCONFIGDIR)/collector-spool.pc \
	    $(DESTDIR)$(SYSUSERSDIR)/collector-agent.conf \
	    $(DESTDIR)$(TMPFILESDIR)/collector-agent.conf
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(UNITS_IN:.in=)))
	rm -f $(foreach m,$(MANPAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))
	rm -rf $(DESTDIR)$(DOCDIR)
	rm -rf $(DESTDIR)$(PYTHONDIR)/collector_spool

clean:
	rm -rf build

# What each object, test program and fuzz target read (DEPFLAGS).
include $(wildcard $(B)/spool/*.d $(B)/agent/*.d $(B)/obj/tests/*.d \
                   build/fuzz/*.d build/fuzz/obj/*/*.d)

# --- Debian packages -------------------------------------------------------------

# What building and checking the packages needs besides BUILD_PKGS: not part
# of make check, which only parses the packaging files
# (tests/cli/test_packaging.sh).
DEB_PKGS        := debhelper dpkg-dev lintian fakeroot
DEB_CHECK_PKGS  := mmdebstrap prometheus-pushgateway curl

.PHONY: deb check-packages

# The .deb files, from contrib/debian/, into build/deb/.
deb:
	@contrib/deps.sh $(BUILD_PKGS) $(DEB_PKGS)
	contrib/debian/build.sh

# Builds and lints the packages, installs them into a fresh Debian 12 root
# (cached in build/deb-root/) and runs the agent there against a Pushgateway
# on the host's loopback; root only (chroot, mount).
check-packages: deb
	@contrib/deps.sh $(DEB_CHECK_PKGS)
	contrib/debian/check-packages.sh

# --- the container image ---------------------------------------------------------

# Builds the image from contrib/Dockerfile with podman (as root), on a
# Debian 12 base made here by mmdebstrap from this machine's apt sources
# (no registry), and runs it as a sidecar against a real Pushgateway:
# contrib/container/check-container.sh. runc: podman's default crun refuses
# hybrid cgroups. Not part of check (minutes, and root).
CONTAINER_PKGS := podman runc mmdebstrap prometheus-pushgateway curl python3

.PHONY: check-container
check-container:
	@contrib/deps.sh $(CONTAINER_PKGS)
	contrib/container/check-container.sh $(B)

# --- check-systemd ---------------------------------------------------------------
# The units under a real systemd: the collector-agent package (make deb)
# installed with apt into a Debian 12 root booted with systemd-nspawn
# (contrib/systemd-check/check-systemd.sh says what it checks). Root, about
# 2 minutes; not part of make check. Without COLLECTOR_DEBS the script
# installs with make install instead.
SYSTEMD_CHECK_PKGS := systemd-container mmdebstrap

.PHONY: check-systemd
check-systemd: deb
	@contrib/deps.sh $(SYSTEMD_CHECK_PKGS)
	BUILD=$(B) COLLECTOR_DEBS="$$(echo build/deb/collector-agent_*.deb)" \
	    contrib/systemd-check/check-systemd.sh
