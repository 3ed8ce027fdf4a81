// pm2 process file: `npm run build && pm2 start multisocket.config.cjs` (add `--env production`
// for the TLS settings). Keep ONE instance: rooms live in this process's memory, so pm2's cluster
// mode would give each worker its own copy of a room (the split gundb-multisocket suffered from).
module.exports = {
  apps: [
    {
      name: 'multisocket',
      script: 'dist/cli.js',
      exec_mode: 'fork',
      instances: 1,
      // SIGTERM → peers get close 1001 and the process exits within 5 s; give it that long.
      kill_timeout: 6000,
      max_memory_restart: '1G',
      env: {
        PORT: 8765,
        HOST: '0.0.0.0',
        SSL: 'false',
        MULTISOCKET_ROOM_TTL: 300,
        MULTISOCKET_LOG_LEVEL: 'info',
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
