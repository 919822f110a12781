#!/usr/bin/env bash
# The ssh layer of `make check`: starts a private sshd (own config, host and
# user keys generated in a scratch folder, 127.0.0.1 on a free port) and an
# ssh-agent holding the user key, runs the iotests-lite group `ssh` under
# -ssh (our driver, and interop with QEMU 7.2's ssh driver), then stops both
# by PID, on failure and interruption too.
#
#   tests/ssh/run.sh [BUILD_DIR] [check args...]   (default build dir: build)
#
# Last line: "N passed, N failed" (from the iotests-lite runner).
set -u
cd "$(dirname "$0")/../.."
build=${1:-build}
[ $# -gt 0 ] && shift
. tests/ssh/sshd-env.sh

scratch=$(mktemp -d "${TMPDIR:-/tmp}/qemu-lite-ssh.XXXXXX")
cleanup() {
    ssh_env_stop
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in /usr/sbin/sshd ssh-keygen ssh-agent ssh-add; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "ssh: $tool not installed (scripts/install-deps.sh installs openssh-server)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done
if ! ssh_env_start "$scratch/server"; then
    echo "ssh: could not start the test sshd"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "ssh: sshd pid $SSH_TEST_SSHD_PID on 127.0.0.1:$SSH_TEST_PORT, agent pid $SSH_TEST_AGENT_PID"
IOTESTS_TMP=$scratch QEMU_LITE_BUILD=$build tests/qemu-iotests-lite/check -ssh -g ssh "$@"
