#!/usr/bin/env bash
# Provisions a locked-down Mosquitto 2.0 broker for praan: a test CA, the broker's TLS
# certificate, a password file with the user `praan` and one user per device, the ACL and a
# mosquitto.conf. See deploy/mosquitto/README.md.
#
# Usage: deploy/mosquitto/provision.sh DIR [--bind ADDR] [--port PORT] [--host NAME]... DEVICE_ID...
#
# Re-running it into the same DIR reuses the CA (ca.key, ca.crt) and the password of every user
# already listed in DIR/credentials; new users get a fresh one, users not listed are removed.
set -euo pipefail
export LC_ALL=C
umask 077

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
prog=${0##*/}

usage() {
    cat <<EOF
usage: $prog DIR [--bind ADDR] [--port PORT] [--host NAME]... DEVICE_ID...

Writes into DIR (created, mode 700): ca.key, ca.crt (a test CA, reused if present), server.key,
server.crt, passwd, credentials, acl, mosquitto.conf.

  --bind ADDR   listen address (default 127.0.0.1)
  --port PORT   TLS port (default 8883)
  --host NAME   a host name (or IP address) clients use to reach the broker; repeatable
                (default localhost). The certificate also always names IP 127.0.0.1.
  DEVICE_ID     one broker user per device; must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\$
                and must not be praan
EOF
}

# A usage error: one line on stderr, exit 2.
refuse() {
    echo "$prog: $*" >&2
    exit 2
}

dir=
bind=127.0.0.1
port=8883
hosts=()
devices=()
while (($#)); do
    case $1 in
    -h | --help)
        usage
        exit 0
        ;;
    --bind | --port | --host)
        (($# >= 2)) || refuse "$1 needs a value"
        case $1 in
        --bind) bind=$2 ;;
        --port) port=$2 ;;
        --host) hosts+=("$2") ;;
        esac
        shift 2
        ;;
    --bind=* | --port=* | --host=*)
        value=${1#*=}
        case $1 in
        --bind=*) bind=$value ;;
        --port=*) port=$value ;;
        --host=*) hosts+=("$value") ;;
        esac
        shift
        ;;
    --)
        shift
        break
        ;;
    -*) refuse "unknown option $1 (see --help)" ;;
    *)
        if [[ -z $dir ]]; then dir=$1; else devices+=("$1"); fi
        shift
        ;;
    esac
done
# Everything after `--` is a positional argument.
for arg in "$@"; do
    if [[ -z $dir ]]; then dir=$arg; else devices+=("$arg"); fi
done

[[ -n $dir ]] || { usage >&2; exit 2; }
((${#devices[@]})) || refuse "no DEVICE_ID given (see --help)"
((${#hosts[@]})) || hosts=(localhost)

# The file paths go into mosquitto.conf unquoted: keep them to plain characters.
[[ $dir =~ ^[A-Za-z0-9_./,+=@:~-]+$ ]] ||
    refuse "DIR ${dir@Q} has characters mosquitto.conf cannot hold (use letters, digits and _./,+=@:~-)"
[[ $port =~ ^[0-9]{1,5}$ ]] && ((10#$port >= 1 && 10#$port <= 65535)) ||
    refuse "--port ${port@Q} is not a port number (1-65535)"
port=$((10#$port))
[[ $bind =~ ^[A-Za-z0-9.:-]+$ ]] || refuse "--bind ${bind@Q} is not a host name or IP address"

ipv4='^([0-9]{1,3}\.){3}[0-9]{1,3}$'
san=()
for h in "${hosts[@]}"; do
    if [[ $h =~ $ipv4 ]]; then
        san+=("IP:$h")
    elif [[ $h == *:* && $h =~ ^[0-9A-Fa-f:.]+$ ]]; then
        san+=("IP:$h")
    elif [[ $h =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$ ]]; then
        san+=("DNS:$h")
    else
        refuse "--host ${h@Q} is not a host name or IP address"
    fi
done
[[ " ${san[*]} " == *" IP:127.0.0.1 "* ]] || san+=("IP:127.0.0.1")
san_list=$(IFS=,; echo "${san[*]}")

# praan's DeviceId grammar (PRODUCT.md §1): never + # / $ whitespace or NUL. The device id is the
# broker user name, and the ACL's %u patterns put it into topics.
declare -A seen=()
for id in "${devices[@]}"; do
    [[ $id =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ ]] ||
        refuse "device id ${id@Q} does not match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\$"
    [[ $id != praan ]] || refuse "device id 'praan' is reserved for the backend's user"
    [[ -z ${seen[$id]:-} ]] || refuse "device id ${id@Q} is listed twice"
    seen[$id]=1
done

for tool in openssl mosquitto_passwd; do
    command -v "$tool" >/dev/null || refuse "$tool is not installed"
done

mkdir -p -- "$dir"
chmod 700 -- "$dir"
dir=$(cd -- "$dir" && pwd -P)
[[ $dir =~ ^[A-Za-z0-9_./,+=@:~-]+$ ]] ||
    refuse "DIR resolves to ${dir@Q}, which has characters mosquitto.conf cannot hold"

work=$(mktemp -d "$dir/.provision.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

# --- The CA: reused when present --------------------------------------------------------------
if [[ -e $dir/ca.key || -e $dir/ca.crt ]]; then
    [[ -s $dir/ca.key && -s $dir/ca.crt ]] ||
        { echo "$prog: $dir has only one of ca.key and ca.crt; remove it or supply both" >&2; exit 1; }
    echo "reusing the CA in $dir (ca.key, ca.crt)"
else
    cat >"$work/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca_ext
[dn]
CN = praan broker CA
[ca_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ca.key" 2>/dev/null
    openssl req -x509 -new -config "$work/ca.cnf" -key "$work/ca.key" -sha256 -days 3650 \
        -set_serial "0x$(openssl rand -hex 16)" -out "$work/ca.crt"
    chmod 600 "$work/ca.key"
    chmod 644 "$work/ca.crt"
    mv -f "$work/ca.key" "$dir/ca.key"
    mv -f "$work/ca.crt" "$dir/ca.crt"
    echo "created a CA in $dir (ca.key, ca.crt)"
fi

# --- The broker's certificate: always new -----------------------------------------------------
cat >"$work/server.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = ${hosts[0]}
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san_list
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/server.key" 2>/dev/null
openssl req -new -config "$work/server.cnf" -key "$work/server.key" -sha256 -out "$work/server.csr"
openssl x509 -req -in "$work/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 \
    -extfile "$work/server.cnf" -extensions server_ext -out "$work/server.crt" 2>/dev/null
openssl verify -CAfile "$dir/ca.crt" "$work/server.crt" >/dev/null
chmod 600 "$work/server.key"
chmod 644 "$work/server.crt"
mv -f "$work/server.key" "$dir/server.key"
mv -f "$work/server.crt" "$dir/server.crt"
echo "created the broker's certificate for $san_list (server.key, server.crt)"

# --- Users: praan and one per device ----------------------------------------------------------
declare -A old=()
if [[ -f $dir/credentials ]]; then
    while read -r user password _; do
        [[ -n ${user:-} && -n ${password:-} && $user != \#* ]] && old[$user]=$password
    done <"$dir/credentials"
fi
users=(praan "${devices[@]}")
fresh=0
: >"$work/credentials"
for user in "${users[@]}"; do
    password=${old[$user]:-}
    if [[ -z $password ]]; then
        password=$(openssl rand -hex 24)
        fresh=$((fresh + 1))
    fi
    if [[ ! -e $work/passwd ]]; then
        mosquitto_passwd -c -b "$work/passwd" "$user" "$password"
    else
        mosquitto_passwd -b "$work/passwd" "$user" "$password"
    fi
    printf '%s %s\n' "$user" "$password" >>"$work/credentials"
done
chmod 600 "$work/passwd" "$work/credentials"
mv -f "$work/passwd" "$dir/passwd"
mv -f "$work/credentials" "$dir/credentials"
echo "wrote ${#users[@]} users (praan and ${#devices[@]} devices; $fresh new passwords) to passwd and credentials"

# --- ACL and configuration --------------------------------------------------------------------
cp "$here/acl" "$work/acl"
chmod 600 "$work/acl"
mv -f "$work/acl" "$dir/acl"

conf=$(<"$here/mosquitto.conf")
conf=${conf//@DIR@/"$dir"}
conf=${conf//@BIND@/"$bind"}
conf=${conf//@PORT@/"$port"}
printf '%s\n' "$conf" >"$work/mosquitto.conf"
chmod 600 "$work/mosquitto.conf"
mv -f "$work/mosquitto.conf" "$dir/mosquitto.conf"
echo "wrote acl and mosquitto.conf"

url_host=${hosts[0]}
[[ $url_host != *:* ]] || url_host="[$url_host]"
if ((EUID == 0)); then
    start="chown -R mosquitto: $dir && mosquitto -c $dir/mosquitto.conf"
    why="Mosquitto started as root switches to the user mosquitto, which must own $dir (and be
able to enter its parent directories); run the chown again after every provisioning run."
else
    start="mosquitto -c $dir/mosquitto.conf"
    why="Run it as $(id -un), the owner of $dir (only that user can read it)."
fi
cat <<EOF

Start the broker:
  $start
$why

Connect praan (the password is the praan line of $dir/credentials):
  praan-server --mqtt-url 'mqtts://praan:<password>@$url_host:$port' --mqtt-ca-file $dir/ca.crt
The broker's certificate is signed by a private CA ($dir/ca.crt), which praan is told to trust.

Each device logs in with its device id as user name and its password from credentials, as
client id its device id (the broker replaces any other), over TLS trusting $dir/ca.crt.
EOF
