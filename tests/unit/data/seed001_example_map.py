"""docker-fabric documentation 0.4.2 (seed 001), chapter 2.7.1: "The example from Docker-Map"
as a Python dict. The ``env`` settings and the ``ContainerMap(...)`` call are copied verbatim
(including the quoted 'env.nginx_config_path', a relative host path as printed); ``env`` is a
plain namespace here instead of Fabric's ``env``.
"""

from types import SimpleNamespace

from containermap.config.map import ContainerMap

# fmt: off
# ruff: noqa
env = SimpleNamespace()

env.host_root_path = '/var/lib/site'
env.registry_prefix = 'registry.example.com'
env.nginx_config_path = 'config/nginx'
env.app1_config_path = 'config/app1'
env.app2_config_path = 'config/app2'
env.app1_data_path = 'data/app1'
env.app2_data_path = 'data/app2'

env.docker_maps = ContainerMap('example_map', {
    'repository': env.registry_prefix,
    'host_root': env.host_root_path,
    'web_server': { # Configure container creation and startup
        'image': 'nginx',
        'binds': {'/etc/nginx': ('env.nginx_config_path', 'ro')},
        'uses': 'app_server_socket',
        'attaches': 'web_log',
        'exposes': {
            80: 80,
            443: 443,
        },
    },
    'app_server': {
        'image': 'app',
        'instances': ('instance1', 'instance2'),
        'binds': (
            {'app_config': 'ro'},
            'app_data',
        ),
        'attaches': ('app_log', 'app_server_socket'),
        'user': 2000,
        'permissions': 'u=rwX,g=rX,o=',
    },
    'volumes': { # Configure volume paths inside containers
        'web_log': '/var/log/nginx',
        'app_server_socket': '/var/lib/app/socket',
        'app_config': '/var/lib/app/config',
        'app_log': '/var/lib/app/log',
        'app_data': '/var/lib/app/data',
    },
    'host': { # Configure volume paths on the Docker host
        'app_config': {
            'instance1': env.app1_config_path,
            'instance2': env.app2_config_path,
        },
        'app_data': {
            'instance1': env.app1_data_path,
            'instance2': env.app2_data_path,
        },
    },
})
