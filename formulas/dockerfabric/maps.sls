{#- One dockerfabric.updated state per map (id dockerfabric-map-<map>) and, after it, one per
    configuration (id dockerfabric-<map>.<config>) so other states can watch single
    configurations: a watch restarts (or sends reload_signal to) exactly those containers. #}
{%- from tpldir ~ "/map.jinja" import dockerfabric, dockerfabric_maps with context %}
{%- set tplroot = tpldir.split('/')[0] %}
{%- set state_args = dockerfabric.maps.state_args or {} %}
{#- multi-host: only this minion's share (configs whose clients this minion drives, see
    docs/multihost.md); None when the maps cannot be loaded: then every map gets its state,
    which reports the problem #}
{%- set share = salt['dockerfabric.share']() if 'dockerfabric.share' in salt else None %}

include:
  - {{ tplroot }}.service

{%- for map_name, configs in dockerfabric_maps|dictsort %}
{%-   if share is none or map_name in share %}
{%-     set configs = configs if share is none else configs|select('in', share[map_name])|list %}

dockerfabric-map-{{ map_name }}:
  dockerfabric.updated:
    - name: {{ map_name }}
{%-   for key, value in state_args|dictsort %}
    - {{ key }}: {{ value|json }}
{%-   endfor %}
    - require:
      - sls: {{ tplroot }}.service
{%-   if dockerfabric.maps.per_config_states %}
{%-     for cfg in configs %}

{%-       set cfg_args = {} %}
{%-       do cfg_args.update(state_args) %}
{%-       do cfg_args.update((dockerfabric.maps.config_args or {}).get(map_name ~ '.' ~ cfg, {})) %}
dockerfabric-{{ map_name }}.{{ cfg }}:
  dockerfabric.updated:
    - name: {{ map_name }}.{{ cfg }}
{%-       for key, value in cfg_args|dictsort %}
    - {{ key }}: {{ value|json }}
{%-       endfor %}
    - require:
      - dockerfabric: dockerfabric-map-{{ map_name }}
{%-     endfor %}
{%-   endif %}
{%-   endif %}
{%- endfor %}
