#!/usr/bin/env bash
# Installs the system tools the test suite and `make run` use, when they are missing.
# Debian packages need root (CI and these machines run as root); otherwise it says what to install.
set -euo pipefail

apt_packages=()
command -v redis-server >/dev/null || apt_packages+=(redis-server)
command -v redis-cli >/dev/null || apt_packages+=(redis-tools)
command -v ss >/dev/null || apt_packages+=(iproute2)
# The UI's browser test drives Debian's chromium with Playwright (no browser download).
[[ -x /usr/bin/chromium ]] || apt_packages+=(chromium)
command -v chromedriver >/dev/null || apt_packages+=(chromium-driver)

if ((${#apt_packages[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "missing system packages: ${apt_packages[*]} (run: sudo apt-get install ${apt_packages[*]})" >&2
        exit 1
    fi
    echo "installing ${apt_packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

# Go tools, built from the Go module proxy into GOBIN (default ~/go/bin).
gobin=$(go env GOPATH)/bin
[[ -x $gobin/grpcurl ]] || go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3
# ghz: the gRPC load tester; tests/test_reflection.py calls through it by server reflection.
[[ -x $gobin/ghz ]] || go install github.com/bojand/ghz/cmd/ghz@v0.121.0
