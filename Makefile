# hugemem - front door only: every target forwards to a CMake preset
# (CMakePresets.json). Build trees live in build/<preset>/.
#
#   make / make all   build the debug preset
#   make test         build debug, run the whole suite (ctest)
#   make demo         build release, run examples/pipeline
#   make asan         build and test the asan preset (ASan + UBSan)
#   make tsan         build and test the tsan preset
#   make valgrind     build the valgrind preset, run unit and mt tests under valgrind
#   make bench        build release, run hugemem-bench $(BENCH_ARGS)
#   make format       clang-format -i every .c and .h
#   make check-format fail if any file is not formatted
#   make lint         cppcheck over src/
#   make tidy         clang-tidy over src/ (not part of CI)
#   make install      build release, install under $(PREFIX) (default /usr/local)
#   make clean        remove build/

JOBS       ?= 2
PREFIX     ?= /usr/local
BENCH_ARGS ?=
DEMO       ?= pipeline
CMAKE      ?= cmake
CTEST      ?= ctest
CLANG_FORMAT ?= clang-format
CLANG_TIDY ?= clang-tidy
CPPCHECK   ?= cppcheck

CTEST_ARGS = --output-on-failure -j$(JOBS)
FORMAT_DIRS = src include tests bench examples tools
FORMAT_FILES = $(shell find $(FORMAT_DIRS) -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort)

# configure + build one preset: $(call build,<preset>)
build = $(CMAKE) --preset $(1) && $(CMAKE) --build build/$(1) -j$(JOBS) -- --no-print-directory

.PHONY: all debug release test demo asan tsan valgrind bench format check-format lint tidy \
	install clean help
# The targets share build trees; never run two of them at once.
.NOTPARALLEL:

all: debug

debug:
	$(call build,debug)

release:
	$(call build,release)

test: debug
	$(CTEST) --test-dir build/debug $(CTEST_ARGS)

demo: release
	build/release/examples/$(DEMO)

asan:
	$(call build,asan)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(CTEST) --test-dir build/asan $(CTEST_ARGS)

tsan:
	$(call build,tsan)
	TSAN_OPTIONS=halt_on_error=1 $(CTEST) --test-dir build/tsan $(CTEST_ARGS)

# The valgrind preset sets HM_VALGRIND=ON: tests/CMakeLists.txt registers only
# unit and mt tests, each wrapped in valgrind --error-exitcode=99.
valgrind:
	$(call build,valgrind)
	$(CTEST) --test-dir build/valgrind -L 'unit|mt' $(CTEST_ARGS)

bench: release
	build/release/bench/hugemem-bench $(BENCH_ARGS)

format:
	@test -n "$(FORMAT_FILES)" || { echo "format: no .c or .h files"; exit 0; }
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

check-format:
	@test -n "$(FORMAT_FILES)" || { echo "check-format: no .c or .h files"; exit 0; }
	@$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES) && \
		echo "check-format: $(words $(FORMAT_FILES)) files formatted as .clang-format says"

lint:
	$(CPPCHECK) --enable=warning,performance,portability --error-exitcode=1 --inline-suppr \
		--suppress=missingIncludeSystem --suppressions-list=cmake/cppcheck.supp \
		--std=c11 --quiet -j$(JOBS) \
		-I include -I src src/
	@echo "lint: cppcheck found nothing in src/"

tidy: debug
	$(CLANG_TIDY) -p build/debug --quiet $(shell find src -type f -name '*.c' | sort)

install: release
	$(CMAKE) --install build/release --prefix $(PREFIX)

clean:
	rm -rf build

help:
	@sed -n '4,17s/^# \{0,1\}//p' Makefile
