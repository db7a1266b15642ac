# Builds shared/, mangoo-worker, the Check unit tests, fake-stream (the
# benchmark's fake model server) and kb-gen (the knowledge benchmark's
# corpus).  The nginx module is built by auto-build.sh against Debian's
# nginx source tree.
CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += $(EXTRA_CFLAGS) -std=gnu11 -Wall -Wextra -Wno-unused-parameter -pthread -Ishared -Iworker \
           $(shell pkg-config --cflags jansson libzmq 2>/dev/null) -I$(shell pg_config --includedir 2>/dev/null) \
           $(shell pkg-config --cflags libxml-2.0 poppler-glib)
LIBS    := -lzmq -lpq -ljansson -lcurl -lssl -lcrypto -lpthread -lm \
           $(shell pkg-config --libs libxml-2.0 poppler-glib)
B       ?= build

SHARED_SRC := $(wildcard shared/*.c)
SHARED_OBJ := $(SHARED_SRC:%.c=$(B)/%.o)
WORKER_SRC := $(wildcard worker/*.c worker/*/*.c)
WORKER_OBJ := $(WORKER_SRC:%.c=$(B)/%.o)
WORKER_LIB_OBJ := $(filter-out $(B)/worker/main.o,$(WORKER_OBJ))
UNIT_SRC   := $(wildcard tests/unit/check_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

all: $(B)/mangoo-worker $(UNIT_BIN) $(B)/fake-stream $(B)/kb-gen

$(B)/%.o: %.c $(wildcard shared/*.h worker/*.h worker/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libmgshared.a: $(SHARED_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/mangoo-worker: $(WORKER_OBJ) $(B)/libmgshared.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/%: tests/unit/%.c $(WORKER_LIB_OBJ) $(B)/libmgshared.a $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(filter-out %.h,$^) $(LIBS) $(shell pkg-config --libs check)

# the benchmark's fake model server: standalone, libc, OpenSSL and nghttp2
$(B)/fake-stream: tests/bench/fake_stream.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lssl -lcrypto -lnghttp2

# the knowledge benchmark's corpus generator: libc, libm and the workers'
# own local embedder
$(B)/kb-gen: tests/bench/kb_gen.c worker/knowledge/embed_local.c worker/knowledge/embed_wire.h worker/knowledge/embed.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(filter %.c,$^) -lm

unit: $(UNIT_BIN)

# libFuzzer harnesses (tests/fuzz/): `auto-build.sh fuzz` builds them with
# B=build/fuzz CC=clang and the sanitizers in EXTRA_CFLAGS, so the project
# objects they link are instrumented too
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/%)

$(B)/fuzz_%: tests/fuzz/fuzz_%.c $(WORKER_LIB_OBJ) $(B)/libmgshared.a $(wildcard tests/fuzz/*.h)
	$(CC) $(CFLAGS) -DMG_FUZZ_DIR='"$(CURDIR)/tests/fuzz"' -fsanitize=fuzzer -o $@ \
		$(filter-out %.h,$^) $(LIBS)

fuzz: $(FUZZ_BIN)

clean:
	rm -rf $(B)/shared $(B)/worker $(B)/tests $(B)/mangoo-worker $(B)/libmgshared.a $(B)/fake-stream $(B)/kb-gen

.PHONY: all unit fuzz clean
