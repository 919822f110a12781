# Sourced by tests/ssh/run: a private sshd on 127.0.0.1 and an ssh-agent
# holding a generated user key, everything in one scratch folder.
#
#   ssh_env_start DIR   generates host and user keys in DIR, starts sshd
#                       (own config, -D, StrictModes no, AuthorizedKeysFile in
#                       DIR) on a free loopback port and ssh-agent on
#                       DIR/agent.sock; exports SSH_TEST_DIR, SSH_TEST_PORT,
#                       SSH_TEST_USER, SSH_TEST_HOSTKEY_SHA256/_SHA1/_MD5
#                       (hex, colon-free), SSH_TEST_KNOWN_HOSTS, SSH_AUTH_SOCK
#   ssh_env_stop        stops sshd, its session processes and the agent by PID
#   ssh_env_kill_sessions  kills the per-connection sshd processes (not the
#                       listener): a server dying under a client
#
# sshd as root needs its privilege separation directory /run/sshd (Debian's
# init script creates it); we create it when missing.

_ssh_env_pids=()

_ssh_env_hex() {  # ssh-keygen -l -E ALG -f KEY: hex fingerprint without colons
    local alg=$1 key=$2 b64
    case $alg in
        md5) ssh-keygen -l -E md5 -f "$key" | awk '{print $2}' | sed 's/^MD5://; s/://g' ;;
        *) b64=$(ssh-keygen -l -E "$alg" -f "$key" | awk '{print $2}' | sed 's/^[A-Z0-9]*://')
           # base64 without padding -> hex
           local pad=$(( (4 - ${#b64} % 4) % 4 ))
           printf '%s%s' "$b64" "$(printf '=%.0s' $(seq 1 $pad))" | base64 -d | od -An -tx1 | tr -d ' \n' ;;
    esac
}

ssh_env_start() {
    local dir=$1 port i tries
    SSH_TEST_DIR=$dir
    mkdir -p "$dir"
    ssh-keygen -q -t ed25519 -N '' -C qemu-lite-test-host -f "$dir/host_key" || return 1
    ssh-keygen -q -t ed25519 -N '' -C qemu-lite-test-user -f "$dir/user_key" || return 1
    cp "$dir/user_key.pub" "$dir/authorized_keys"
    if [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then
        mkdir -p /run/sshd && chmod 755 /run/sshd
    fi
    for ((tries = 0; tries < 20; tries++)); do
        port=$((20000 + RANDOM % 40000))
        cat >"$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
LogLevel ERROR
CONF
        /usr/sbin/sshd -D -f "$dir/sshd_config" -E "$dir/sshd.log" &
        SSH_TEST_SSHD_PID=$!
        for ((i = 0; i < 100; i++)); do
            kill -0 "$SSH_TEST_SSHD_PID" 2>/dev/null || break
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                break 2
            fi
            sleep 0.05
        done
        kill "$SSH_TEST_SSHD_PID" 2>/dev/null
        wait "$SSH_TEST_SSHD_PID" 2>/dev/null
        SSH_TEST_SSHD_PID=
    done
    if [ -z "$SSH_TEST_SSHD_PID" ]; then
        echo "sshd did not start:" >&2
        cat "$dir/sshd.log" >&2
        return 1
    fi
    ssh-agent -D -a "$dir/agent.sock" >/dev/null 2>&1 &
    SSH_TEST_AGENT_PID=$!
    for ((i = 0; i < 100; i++)); do
        [ -S "$dir/agent.sock" ] && break
        sleep 0.05
    done
    export SSH_AUTH_SOCK=$dir/agent.sock
    ssh-add -q "$dir/user_key" 2>/dev/null || { echo "ssh-add failed" >&2; return 1; }
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_key.pub")" >"$dir/known_hosts"
    export SSH_TEST_DIR SSH_TEST_PORT=$port SSH_TEST_USER=$(id -un)
    export SSH_TEST_KNOWN_HOSTS=$dir/known_hosts
    export SSH_TEST_HOSTKEY_SHA256=$(_ssh_env_hex sha256 "$dir/host_key.pub")
    export SSH_TEST_HOSTKEY_SHA1=$(_ssh_env_hex sha1 "$dir/host_key.pub")
    export SSH_TEST_HOSTKEY_MD5=$(_ssh_env_hex md5 "$dir/host_key.pub")
    export SSH_TEST_SSHD_PID SSH_TEST_AGENT_PID
}

# The per-connection sshd processes are children of the listener.
ssh_env_kill_sessions() {
    local p
    for p in $(ps -o pid= --ppid "$SSH_TEST_SSHD_PID" 2>/dev/null); do
        kill -9 "$p" 2>/dev/null
    done
}

ssh_env_stop() {
    if [ -n "${SSH_TEST_SSHD_PID:-}" ]; then
        ssh_env_kill_sessions
        kill "$SSH_TEST_SSHD_PID" 2>/dev/null
        wait "$SSH_TEST_SSHD_PID" 2>/dev/null
        SSH_TEST_SSHD_PID=
    fi
    if [ -n "${SSH_TEST_AGENT_PID:-}" ]; then
        kill "$SSH_TEST_AGENT_PID" 2>/dev/null
        wait "$SSH_TEST_AGENT_PID" 2>/dev/null
        SSH_TEST_AGENT_PID=
    fi
}
