// pm2 process file: `npm run build && pm2 start multisocket.config.cjs` (add `--env production`
// for the TLS settings). With the default memory broker keep ONE instance: rooms live in this
// process's memory, so pm2's cluster mode would give each worker its own copy of a room (the split
// gundb-multisocket suffered from). To use every core, join the instances through Redis or NATS:
// see the commented cluster-mode settings below and docs/cluster.md.
module.exports = {
  apps: [
    {
      name: 'multisocket',
      script: 'dist/cli.js',
      exec_mode: 'fork',
      instances: 1,
      // Cluster mode: one process per core sharing the port, one room across all of them.
      // exec_mode: 'cluster',
      // instances: 'max',
      // SIGTERM → peers get close 1001 and the process exits within 5 s; give it that long.
      kill_timeout: 6000,
      max_memory_restart: '1G',
      env: {
        PORT: 8765,
        HOST: '0.0.0.0',
        SSL: 'false',
        MULTISOCKET_ROOM_TTL: 300,
        MULTISOCKET_LOG_LEVEL: 'info',
        // json for pm2's log files and shippers; 'pretty' only when a person reads them raw.
        MULTISOCKET_LOG_FORMAT: 'json',
        // With exec_mode 'cluster' (or several machines): the engine every instance joins, and the
        // key that seals what they exchange (the same on every instance; at least 16 bytes).
        // MULTISOCKET_BROKER: 'redis://127.0.0.1:6379',
        // MULTISOCKET_CLUSTER_KEY: 'replace with: openssl rand -base64 32',
      },
      env_production: {
        PORT: 443,
        SSL: 'true',
        SSLKEY: 'cert/server.key',
        SSLCERT: 'cert/server.cert',
        // bind 443 as root, then run as nobody
        MULTISOCKET_UID: 'nobody',
        MULTISOCKET_GID: 'nogroup',
      },
    },
  ],
};
