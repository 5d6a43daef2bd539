# Writes the benchmark's server config to $1 with its data dir in $2: app bench-app / bench-key /
# bench-secret with the limits off (every connection of the generators comes from 127.0.0.x).
write_bench_config() {
  cat > "$1" <<TOML
data_dir = "$2"
drain_grace = 0

[clients]
max_connections_per_ip = 0

[[apps]]
id = "bench-app"
key = "bench-key"
secret = "bench-secret"
max_connections = 0
max_client_events_per_sec = 0
max_presence_members = 0
TOML
}
