# Pillar top file: give every minion the container maps of dockerfabric.sls.
# Narrow the target (e.g. 'web*') to deploy the maps to some hosts only.
base:
  '*':
    - dockerfabric
