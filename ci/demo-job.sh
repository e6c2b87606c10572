# A stand-in for untrusted code: it looks around and tries a few things a sandbox must stop.
echo "whoami:    $(id)"
echo "hostname:  $(hostname)"
echo "processes: $(ls /proc | grep -c '^[0-9]') visible"
echo "network:   $(ls /sys/class/net 2>/dev/null || grep -o '^ *[a-z0-9]*:' /proc/net/dev | tr -d ' \n')"
echo "root:      $(echo $(ls /))"
touch /usr/bin/planted 2>/dev/null && echo "wrote /usr/bin: NOT CONTAINED" || echo "write /usr/bin: refused"
cat /etc/shadow >/dev/null 2>&1 && echo "read /etc/shadow: NOT CONTAINED" || echo "read /etc/shadow: refused"
echo hello >/tmp/scratch && echo "write /tmp: ok (a private tmpfs)"
exec sleep 60  # the wall-time limit ends this
