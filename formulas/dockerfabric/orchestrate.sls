{#- Orchestrate example: converge the fleet level by level with salt.state.

        salt-run state.orchestrate dockerfabric.orchestrate
        salt-run state.orchestrate dockerfabric.orchestrate pillar='{"dockerfabric_orchestrate": {"test": true}}'

    Each level applies the dockerfabric formula (every minion converges its own share of the maps)
    on its targets, all targets of a level at once; a level starts when the one before it
    succeeded. Put the minions whose containers others `requires` in the earlier levels. The levels
    come from the orchestrate pillar `dockerfabric_orchestrate:levels` (a list of {tgt, tgt_type,
    sls}); default: database minions `app*` first, then `web*`.

    `salt-run dockerfabric.orchestrate` does the same without writing levels by hand: it computes
    them from the maps' `requires` and validates the whole fleet first (docs/multihost.md). #}
{%- set settings = salt['pillar.get']('dockerfabric_orchestrate', {}) %}
{%- set levels = settings.get('levels') or [{'tgt': 'app*'}, {'tgt': 'web*'}] %}
{%- for level in levels %}

dockerfabric-level-{{ loop.index0 }}:
  salt.state:
    - tgt: {{ level.tgt|json }}
    - tgt_type: {{ level.get('tgt_type', 'glob') }}
    - sls: {{ level.get('sls', 'dockerfabric')|json }}
    - test: {{ settings.get('test', False)|json }}
{%-   if not loop.first %}
    - require:
      - salt: dockerfabric-level-{{ loop.index0 - 1 }}
{%-   endif %}
{%- endfor %}
