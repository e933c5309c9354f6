{#- The Docker engine package and the docker SDK for Salt's Python (both switchable off:
    dockerfabric:lookup:install:engine / :sdk) #}
{%- from tpldir ~ "/map.jinja" import dockerfabric with context %}

{%- if dockerfabric.install.engine %}
dockerfabric-engine-package:
  pkg.installed:
    - name: {{ dockerfabric.engine_pkg }}
{%- endif %}

{%- if dockerfabric.install.sdk %}
{%-   if dockerfabric.install.sdk_method == 'pip' %}
dockerfabric-sdk:
  pip.installed:
    - name: {{ dockerfabric.sdk_pip }}
    - bin_env: {{ dockerfabric.salt_python or grains.pythonexecutable }}
{%-     if dockerfabric.install.pip_extra_args %}
    - extra_args: {{ dockerfabric.install.pip_extra_args|json }}
{%-     endif %}
    - reload_modules: true
{%-   else %}
dockerfabric-sdk:
  pkg.installed:
    - name: {{ dockerfabric.sdk_pkg }}
    - reload_modules: true
{%-   endif %}
{%- endif %}

{%- if not dockerfabric.install.engine and not dockerfabric.install.sdk %}
dockerfabric-install-skipped:
  test.nop:
    - name: engine and SDK installation switched off in pillar (dockerfabric:lookup:install)
{%- endif %}
