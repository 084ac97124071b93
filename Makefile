# The two commands of the README, plus a few helpers. Everything real is in CMake.
BUILD ?= build
JOBS ?= $(shell nproc)
CONFIG ?= config/plughost.yaml
PACKAGES = cmake g++ make libpoco-dev libyaml-cpp-dev libgtest-dev scdoc libssl-dev openssl
# The tests build one plugin with clang and libc++ (the C ABI must not care), read ELF files,
# check the formatting of the tree, render the man pages (man-db), run the bash completion with
# bash-completion's helpers and lint /metrics with promtool (in prometheus); the package tests
# build the .deb (dpkg-dev: dpkg-shlibdeps, dpkg-parsechangelog), judge it with lintian,
# systemd-analyze verify and systemd-tmpfiles (systemd; man-db: the units' man: links), and run
# its maintainer scripts with dpkg --root (adduser).
TEST_PACKAGES = clang clang-format libc++-dev libc++abi-dev binutils git man-db bash-completion \
	prometheus dpkg-dev lintian systemd adduser ii sic python3-websockets \
	chromium chromium-driver python3-selenium fonts-dejavu-core

.PHONY: deps build run test clean

# Installs the Debian packages that are missing (as root, non-interactive).
deps:
	@missing=$$(for p in $(PACKAGES) $(TEST_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr
	cmake --build $(BUILD) -j $(JOBS)

run: build
	exec $(BUILD)/host/plughostd --config $(CONFIG)

# Every test on the Release build, then every test again under AddressSanitizer
# and UndefinedBehaviorSanitizer, then the concurrency tests under ThreadSanitizer.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory sanitize

.PHONY: sanitize
sanitize: deps
	cmake -S . -B $(BUILD)-asan -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=Debug -DPLUGHOST_SANITIZE=address,undefined
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ctest --output-on-failure -j $(JOBS)
	cmake -S . -B $(BUILD)-tsan -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLUGHOST_SANITIZE=thread
	cmake --build $(BUILD)-tsan -j $(JOBS)
	cd $(BUILD)-tsan && ctest --output-on-failure -j $(JOBS) -L concurrency

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan $(BUILD)-fuzz

.PHONY: fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = fuzz_config fuzz_framer fuzz_chat fuzz_confirm fuzz_upgrade fuzz_frames
# Each libFuzzer target for FUZZ_SECONDS, starting from the checked-in seeds in
# tests/fuzz/corpus (new inputs go to $(BUILD)-fuzz/corpus, not into the tree).
fuzz: deps
	@dpkg-query -W -f='$${Status}\n' clang libclang-rt-14-dev 2>/dev/null | grep -c 'install ok installed' | grep -q 2 || \
		{ SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends clang libclang-rt-14-dev; }
	CC=clang CXX=clang++ cmake -S . -B $(BUILD)-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLUGHOST_FUZZ=ON -DCMAKE_INSTALL_PREFIX=/usr
	cmake --build $(BUILD)-fuzz -j $(JOBS) --target $(FUZZ_TARGETS) chat confirm echo
	@set -e; for target in $(FUZZ_TARGETS); do \
		mkdir -p $(BUILD)-fuzz/corpus/$$target; cp tests/fuzz/corpus/$$target/* $(BUILD)-fuzz/corpus/$$target/; \
		echo "== $$target ($(FUZZ_SECONDS) s)"; \
		$(BUILD)-fuzz/tests/fuzz/$$target -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(BUILD)-fuzz/ \
			$(BUILD)-fuzz/corpus/$$target > $(BUILD)-fuzz/$$target.log 2>&1 || { tail -n 60 $(BUILD)-fuzz/$$target.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units|stat::average_exec_per_sec|Done [0-9]+ runs' $(BUILD)-fuzz/$$target.log; \
	done

.PHONY: package
# A .deb in $(BUILD)/ (plughostd, plughostctl, plugins, config, SDK, systemd units, tmpfiles.d),
# then lintian's verdict on it (make deps installs lintian).
package: build
	cd $(BUILD) && cpack -G DEB
	lintian $(BUILD)/plughost_*.deb

.PHONY: bench
# Builds Release and runs the benchmark matrix (bench/run.sh); results in bench/results/latest.md.
bench: build
	bash bench/run.sh $(BUILD)
