{#- The Docker daemon runs. dockerfabric:lookup:service:manage false: no init system service;
    dockerd is started in the background unless the engine already answers. #}
{%- from tpldir ~ "/map.jinja" import dockerfabric with context %}
{%- set svc = dockerfabric.service %}

{%- if svc.manage %}
dockerfabric-service:
  service.running:
    - name: {{ svc.name }}
    - enable: {{ svc.enable }}
{%-   if dockerfabric.install.engine %}
    - require:
      - pkg: dockerfabric-engine-package
{%-   endif %}
{%- else %}
dockerfabric-service:
  cmd.run:
    - name: {{ ([svc.dockerd] + svc.dockerd_args)|join(" ")|json }}
    - bg: true
    - unless: {{ svc.check_cmd|json }}
{%-   if dockerfabric.install.engine %}
    - require:
      - pkg: dockerfabric-engine-package
{%-   endif %}

dockerfabric-service-wait:
  cmd.run:
    - name: {{ svc.check_cmd|json }}
    - retry:
        attempts: {{ svc.wait }}
        interval: 1
        until: true
    - onchanges:
      - cmd: dockerfabric-service
{%- endif %}
