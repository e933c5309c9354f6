# dockerfabric formula: Docker engine and SDK, the daemon, then every container map of this
# minion's pillar converged (state.apply dockerfabric).
include:
  - .install
  - .service
  - .maps
