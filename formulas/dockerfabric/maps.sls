{#- One dockerfabric.updated state per map (id dockerfabric-map-<map>) and, after it, one per
    configuration (id dockerfabric-<map>.<config>) so other states can watch single
    configurations: a watch restarts (or sends reload_signal to) exactly those containers. #}
{%- from tpldir ~ "/map.jinja" import dockerfabric, dockerfabric_maps with context %}
{%- set tplroot = tpldir.split('/')[0] %}
{%- set state_args = dockerfabric.maps.state_args or {} %}

include:
  - {{ tplroot }}.service

{%- for map_name, configs in dockerfabric_maps|dictsort %}

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
{%- endfor %}
