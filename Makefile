# tng-wg: one Makefile for the binary, the tests and the sanitizer build.
#   make            build build/release/tng-wg
#   make deps       install the Debian packages the build and the tests need
#   make test       deps + the whole suite, release and ASan/UBSan builds
#   make test-asan  the whole suite against the ASan/UBSan build only
#   make demo       a 4-node netns mesh with the stand-in AA and AS
#   make bench      the data path against bare veth and wireguard-go, then the control plane
#                   (handshakes/s, mesh connect time, memory per peer); tables and build/bench.json
#   make install    the binary, the systemd unit and the docs under PREFIX (default /usr/local)
#   make fuzz       every libFuzzer harness for FUZZ_SECONDS each (see "How we test" in README.md)

PKGS     := libsodium openssl libmnl libnftables libcjson libcurl libprotobuf-c
CC       ?= cc
CSTD     := -std=c11 -D_GNU_SOURCE
WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
INCS     := -I. -Ibuild/gen
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

MODULES  := common overlay tun handshake attest policy node
LIB_SRCS := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
CMD_SRCS := $(wildcard cmd/*.c)
PROTOS   := $(wildcard attest/proto/*.proto)
GEN_SRCS := $(patsubst attest/proto/%.proto,build/gen/%.pb-c.c,$(PROTOS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
FUZZ_SECONDS ?= 600

VARIANT  ?= release
ifeq ($(VARIANT),asan)
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDOPT    := -fsanitize=address,undefined
else ifeq ($(VARIANT),fuzz)
# libFuzzer: the library is instrumented for coverage, the harnesses link the fuzzer's main.
CC       := clang
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
	    -fno-sanitize-recover=undefined
LDOPT    := -fsanitize=fuzzer,address,undefined
else
OPT      := -O2 -g
LDOPT    :=
endif
B        := build/$(VARIANT)
CFLAGS_ALL := $(CSTD) $(WARN) $(OPT) $(INCS) $(PKG_CFLAGS) $(CFLAGS)

LIB_OBJS := $(patsubst %.c,$(B)/%.o,$(LIB_SRCS)) $(patsubst build/gen/%.c,$(B)/gen/%.o,$(GEN_SRCS))
CMD_OBJS := $(patsubst %.c,$(B)/%.o,$(CMD_SRCS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))
FUZZ_BINS := $(patsubst fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))

PREFIX   ?= /usr/local
BINDIR   := $(PREFIX)/bin
UNITDIR  := $(PREFIX)/lib/systemd/system
DOCDIR   := $(PREFIX)/share/doc/tng-wg

.PHONY: all asan deps test test-asan test-unit demo bench install clean fuzz fuzz-bins fuzz-merge
# Generated protobuf sources are kept: every object may include them.
.SECONDARY: $(GEN_SRCS) $(GEN_SRCS:.c=.h)
all: $(B)/tng-wg $(B)/tng-wg-userspace

asan:
	$(MAKE) VARIANT=asan all unit-bins

unit-bins: $(UNIT_BINS)

$(B)/libtngwg.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(B)/tng-wg: $(CMD_OBJS) $(B)/libtngwg.a
	$(CC) $(LDOPT) -o $@ $(CMD_OBJS) $(B)/libtngwg.a $(PKG_LIBS) -lm

$(B)/tng-wg-userspace: $(B)/tng-wg
	ln -sf tng-wg $@

$(B)/tests/%: tests/unit/%.c tests/unit/test.h $(B)/libtngwg.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(LDOPT) -o $@ $< $(B)/libtngwg.a $(PKG_LIBS) -lm

# Harnesses: only in the fuzz variant (make VARIANT=fuzz fuzz-bins).
fuzz-bins: $(FUZZ_BINS)

build/fuzz/fuzz_%: fuzz/fuzz_%.c $(wildcard fuzz/*.h) $(B)/libtngwg.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(LDOPT) -o $@ $< $(B)/libtngwg.a $(PKG_LIBS) -lm

$(B)/gen/%.o: build/gen/%.c
	@mkdir -p $(@D)
	$(CC) $(CSTD) -O2 -g $(OPT) $(INCS) $(PKG_CFLAGS) -w -c -o $@ $<

build/gen/%.pb-c.c build/gen/%.pb-c.h: attest/proto/%.proto
	@mkdir -p build/gen
	protoc-c --proto_path=attest/proto --c_out=build/gen $<

$(B)/%.o: %.c | $(patsubst build/gen/%.c,build/gen/%.h,$(GEN_SRCS))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

-include $(shell find build/$(VARIANT) -name '*.d' 2>/dev/null)

deps:
	scripts/deps.sh

test: deps
	$(MAKE) VARIANT=release all unit-bins
	$(MAKE) VARIANT=asan all unit-bins
	$(MAKE) VARIANT=fuzz fuzz-bins
	tests/run.sh --variants "release asan" --fuzz-seconds 20 --jobs 2

test-asan: deps
	$(MAKE) VARIANT=asan all unit-bins
	tests/run.sh --variants asan --jobs 2

test-unit:
	$(MAKE) VARIANT=release all unit-bins
	tests/run.sh --variants release --only unit

demo: deps
	$(MAKE) VARIANT=release all
	netns-scripts/demo.sh

bench: deps
	$(MAKE) VARIANT=release all
	netns-scripts/bench.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(B)/tng-wg $(DESTDIR)$(BINDIR)/tng-wg
	ln -sf tng-wg $(DESTDIR)$(BINDIR)/tng-wg-userspace
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' dist/tng-wg@.service.in >$(DESTDIR)$(UNITDIR)/tng-wg@.service
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -m 0644 netns-scripts/configs/mesh-two-way-ra.json $(DESTDIR)$(DOCDIR)/node.json.example

# Each harness FUZZ_SECONDS on its corpus; new inputs go to build/fuzz/corpus, not fuzz/corpus.
fuzz:
	$(MAKE) VARIANT=fuzz fuzz-bins
	fuzz/run.sh --seconds $(FUZZ_SECONDS)

# Add to fuzz/corpus/NAME what fuzzing found (build/fuzz/corpus/NAME) that brings new coverage.
fuzz-merge:
	$(MAKE) VARIANT=fuzz fuzz-bins
	fuzz/run.sh --merge

clean:
	rm -rf build
