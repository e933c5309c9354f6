"""Invalid maps: each produces exactly the expected problems, with map, config and key path.

Built with ``check_integrity=False`` so that these are the per-key, inheritance and naming rules
of the model alone (cross-reference rules are tested with config/integrity.py).
"""

from __future__ import annotations

import pytest
from containermap.config import ContainerMap

CASES = [
    pytest.param(
        {"web": {"image": "nginx", "expose": 80}},
        ["webapp.web.expose: unknown key 'expose' (did you mean 'exposes'?)"],
        id="unknown_key",
    ),
    pytest.param(
        {"web": {"colour": "red"}},
        ["webapp.web.colour: unknown key 'colour'"],
        id="unknown_key_no_suggestion",
    ),
    pytest.param(
        {"web": {"instances": 3}},
        ["webapp.web.instances: expected a name or a list of them, got int 3"],
        id="instances_int",
    ),
    pytest.param(
        {"web": {"instances": ["a.b"]}},
        [
            "webapp.web.instances[0]: invalid instance name 'a.b' (allowed: letters, digits, '_', '-'; must start with a letter or digit)"
        ],
        id="instances_dotted",
    ),
    pytest.param(
        {"web": {"instances": ["a", "a"]}},
        ["webapp.web.instances[1]: duplicate entry 'a'"],
        id="instances_duplicate",
    ),
    pytest.param(
        {"web": {"binds": 7}},
        [
            "webapp.web.binds: expected an alias, (alias, read-only), (container path, host path[, read-only]) or a dict of those, got int 7"
        ],
        id="binds_int",
    ),
    pytest.param(
        {"web": {"binds": [("etc/app", "/srv/app")]}},
        [
            "webapp.web.binds[0]: container path 'etc/app' must be absolute (start with '/') or start with './'"
        ],
        id="binds_relative_container_path",
    ),
    pytest.param(
        {"web": {"binds": ["/etc/app"]}},
        [
            "webapp.web.binds[0]: '/etc/app' looks like a container path but has no host path (a direct bind is (container path, host path); an alias is a name from volumes)"
        ],
        id="binds_path_without_host",
    ),
    pytest.param(
        {"web": {"binds": [("/a", "/b", "ro", "x")]}},
        [
            "webapp.web.binds[0]: expected an alias, (alias, read-only), (container path, host path[, read-only]) or a dict of those, got tuple ('/a', '/b', 'ro', 'x')"
        ],
        id="binds_four_items",
    ),
    pytest.param(
        {"web": {"binds": {"/a": 5}}},
        [
            "webapp.web.binds['/a']: expected a read-only flag, a host path or (host path, read-only flag), got int 5"
        ],
        id="binds_bad_host_path",
    ),
    pytest.param(
        {"web": {"binds": {"/a": {"i1": None}}}},
        ["webapp.web.binds['/a'].i1: expected a host path, got null"],
        id="binds_instance_dict_bad",
    ),
    pytest.param(
        {"web": {"attaches": [("log", "ro")]}},
        [
            "webapp.web.attaches[0]: attached volume 'log' cannot be read-only (the owning container mounts it read-write)"
        ],
        id="attaches_readonly",
    ),
    pytest.param(
        {"web": {"attaches": [("log", "/var/log", True)]}},
        [
            "webapp.web.attaches[0]: attached volume 'log' cannot be read-only (the owning container mounts it read-write)"
        ],
        id="attaches_readonly3",
    ),
    pytest.param(
        {"web": {"attaches": {"log": "var/log"}}},
        ["webapp.web.attaches.log: container path 'var/log' must be absolute (start with '/')"],
        id="attaches_relative",
    ),
    pytest.param(
        {"web": {"uses": {"sock": "mnt"}}},
        ["webapp.web.uses.sock: container path 'mnt' must be absolute (start with '/')"],
        id="uses_relative",
    ),
    pytest.param(
        {"web": {"uses": ["bad name"]}},
        ["webapp.web.uses[0]: invalid volume alias or container reference 'bad name'"],
        id="uses_bad_name",
    ),
    pytest.param(
        {"web": {"links": "a.b.c"}},
        ["webapp.web.links: invalid container reference 'a.b.c' (expected 'config' or 'config.instance')"],
        id="links_three_parts",
    ),
    pytest.param(
        {"web": {"links": {"db": "bad alias"}}},
        ["webapp.web.links.db: invalid link alias 'bad alias'"],
        id="links_bad_alias",
    ),
    pytest.param(
        {"web": {"exposes": [70000]}},
        ["webapp.web.exposes[0]: port 70000 is out of range (1-65535)"],
        id="exposes_out_of_range",
    ),
    pytest.param(
        {"web": {"exposes": {80: 0}}},
        ["webapp.web.exposes[80]: host port 0 is out of range (1-65535)"],
        id="exposes_zero",
    ),
    pytest.param(
        {"web": {"exposes": ["53/icmp"]}},
        ["webapp.web.exposes[0]: unknown protocol 'icmp' in port '53/icmp' (use tcp, udp or sctp)"],
        id="exposes_protocol",
    ),
    pytest.param(
        {"web": {"exposes": ["http"]}},
        ["webapp.web.exposes[0]: invalid port str 'http' (expected a number 1-65535 or 'number/protocol')"],
        id="exposes_garbage",
    ),
    pytest.param(
        {"web": {"exposes": [(80, "9000-8000")]}},
        ["webapp.web.exposes[0]: host port '9000-8000' is out of range (1-65535)"],
        id="exposes_host_range",
    ),
    pytest.param(
        {"web": {"exposes": [(80, 80, "pub", "yes")]}},
        ["webapp.web.exposes[0]: ipv6 flag must be true or false, got str 'yes'"],
        id="exposes_ipv6_flag",
    ),
    pytest.param(
        {"web": {"exposes": [(80, 80, 5)]}},
        ["webapp.web.exposes[0]: expected an interface name, got int 5"],
        id="exposes_iface_type",
    ),
    pytest.param(
        {"web": {"networks": {"back": {"ipv4_address": "10.0.0.300"}}}},
        ["webapp.web.networks.back.ipv4_address: invalid IPv4 address str '10.0.0.300'"],
        id="networks_bad_ip",
    ),
    pytest.param(
        {"web": {"networks": {"back": {"ipv4_address": "fd00::1"}}}},
        ["webapp.web.networks.back.ipv4_address: invalid IPv4 address str 'fd00::1'"],
        id="networks_ipv6_in_ipv4",
    ),
    pytest.param(
        {"web": {"networks": {"back": {"alias": "x"}}}},
        ["webapp.web.networks.back.alias: unknown endpoint key 'alias' (did you mean 'aliases'?)"],
        id="networks_unknown_key",
    ),
    pytest.param(
        {"web": {"networks": ["bad net"]}},
        [
            "webapp.web.networks[0]: invalid network name 'bad net' (allowed: letters, digits, '_', '.', '-'; must start with a letter or digit)"
        ],
        id="networks_bad_name",
    ),
    pytest.param(
        {"web": {"network_mode": 5}},
        ["webapp.web.network_mode: expected a network mode string, got int 5"],
        id="network_mode_int",
    ),
    pytest.param(
        {"web": {"network_mode": "a.b.c"}},
        ["webapp.web.network_mode: invalid network mode 'a.b.c' (expected 'config' or 'config.instance')"],
        id="network_mode_bad_ref",
    ),
    pytest.param(
        {"web": {"network_mode": "container:"}},
        ["webapp.web.network_mode: invalid container name in network mode 'container:'"],
        id="network_mode_container_empty",
    ),
    pytest.param(
        {"web": {"exec_commands": [("cmd", "root", "always")]}},
        ["webapp.web.exec_commands[0]: unknown exec policy 'always' (use 'restart' or 'initial')"],
        id="exec_policy",
    ),
    pytest.param(
        {"web": {"exec_commands": [""]}},
        ["webapp.web.exec_commands[0]: expected a command string or argument list, got str ''"],
        id="exec_empty",
    ),
    pytest.param(
        {"web": {"exec_commands": {"command": "x"}}},
        [
            "webapp.web.exec_commands.command: unknown key 'command' (did you mean 'cmd'?)",
            "webapp.web.exec_commands: exec command has no 'cmd'",
        ],
        id="exec_dict_unknown",
    ),
    pytest.param(
        {"web": {"healthcheck": {"test": "true", "interval": "30 seconds"}}},
        [
            "webapp.web.healthcheck.interval: invalid interval str '30 seconds' (use a duration string such as '30s', '1m30s', '500ms', or an integer number of nanoseconds)"
        ],
        id="health_bad_interval",
    ),
    pytest.param(
        {"web": {"healthcheck": {"test": "true", "interval": 30}}},
        [
            "webapp.web.healthcheck.interval: interval 30 is 30 ns, below Docker's minimum of 1ms (integers are nanoseconds; write '30s' for 30 seconds)"
        ],
        id="health_int_seconds",
    ),
    pytest.param(
        {"web": {"healthcheck": {"test": "true", "retries": -1}}},
        ["webapp.web.healthcheck.retries: expected a non-negative number of retries, got int -1"],
        id="health_retries",
    ),
    pytest.param(
        {"web": {"healthcheck": {"test": "true", "intervall": "1s"}}},
        ["webapp.web.healthcheck.intervall: unknown healthcheck key 'intervall' (did you mean 'interval'?)"],
        id="health_unknown_key",
    ),
    pytest.param(
        {"web": {"healthcheck": 5}},
        [
            "webapp.web.healthcheck: expected a test command, a dict, or (test, interval, timeout, retries, start_period), got int 5"
        ],
        id="health_type",
    ),
    pytest.param(
        {"web": {"healthcheck": ["CMD"]}},
        ["webapp.web.healthcheck.test: healthcheck test ['CMD'] has no command"],
        id="health_cmd_only",
    ),
    pytest.param(
        {"web": {"user": -1}},
        ["webapp.web.user: user id must not be negative, got -1"],
        id="user_negative",
    ),
    pytest.param(
        {"web": {"user": "a:b:c"}},
        ["webapp.web.user: invalid user 'a:b:c' (expected 'user' or 'user:group')"],
        id="user_three_parts",
    ),
    pytest.param(
        {"web": {"user": "app user"}},
        ["webapp.web.user: invalid user str 'app user'"],
        id="user_bad_chars",
    ),
    pytest.param(
        {"web": {"permissions": "u=rwz"}},
        [
            "webapp.web.permissions: invalid permissions 'u=rwz' (expected an octal mode such as '0750' or a symbolic mode such as 'u=rwX,g=rX,o=')"
        ],
        id="permissions_bad",
    ),
    pytest.param(
        {"web": {"permissions": 488}},
        [
            "webapp.web.permissions: permissions must be a quoted string such as '0750', got the number 488 (YAML reads an unquoted 0750 as the decimal number 488)"
        ],
        id="permissions_octal_int",
    ),
    pytest.param(
        {"web": {"permissions": "0789"}},
        [
            "webapp.web.permissions: invalid permissions '0789' (expected an octal mode such as '0750' or a symbolic mode such as 'u=rwX,g=rX,o=')"
        ],
        id="permissions_octal_digits",
    ),
    pytest.param(
        {"web": {"stop_signal": "SIGTREM"}},
        ["webapp.web.stop_signal: unknown signal 'SIGTREM' (did you mean 'SIGTERM'?)"],
        id="stop_signal_unknown",
    ),
    pytest.param(
        {"web": {"stop_signal": 99}},
        ["webapp.web.stop_signal: signal number 99 is out of range (1-64)"],
        id="stop_signal_range",
    ),
    pytest.param(
        {"web": {"stop_timeout": -5}},
        ["webapp.web.stop_timeout: must not be negative, got -5"],
        id="stop_timeout_negative",
    ),
    pytest.param(
        {"web": {"stop_timeout": "10s"}},
        ["webapp.web.stop_timeout: expected a non-negative number of seconds, got str '10s'"],
        id="stop_timeout_string",
    ),
    pytest.param(
        {"web": {"start_delay": True}},
        ["webapp.web.start_delay: expected a non-negative number of seconds, got bool True"],
        id="start_delay_bool",
    ),
    pytest.param(
        {"web": {"abstract": "yes"}},
        ["webapp.web.abstract: expected true or false, got str 'yes'"],
        id="abstract_string",
    ),
    pytest.param(
        {"web": {"persistent": 1}},
        ["webapp.web.persistent: expected true or false, got int 1"],
        id="persistent_int",
    ),
    pytest.param(
        {"web": {"shares": ["var/cache"]}},
        ["webapp.web.shares[0]: container path 'var/cache' must be absolute (start with '/')"],
        id="shares_relative",
    ),
    pytest.param(
        {"web": {"create_options": ["command"]}},
        ["webapp.web.create_options: expected a dict (or a callable returning one), got list ['command']"],
        id="create_options_list",
    ),
    pytest.param(
        {"web": {"create_options": {"enviroment": {"A": "1"}}}},
        ["webapp.web.create_options.enviroment: unknown option 'enviroment' (did you mean 'environment'?)"],
        id="create_options_unknown",
    ),
    pytest.param(
        {"web": {"create_options": {"environment": "A=1"}}},
        ["webapp.web.create_options.environment: expected a dict or a list of 'NAME=value', got str 'A=1'"],
        id="create_options_env_type",
    ),
    pytest.param(
        {"web": {"create_options": {"environment": ["A=1", 5]}}},
        ["webapp.web.create_options.environment[1]: expected 'NAME=value', got int 5"],
        id="create_options_env_item",
    ),
    pytest.param(
        {"web": {"host_config": {"restart": "always"}}},
        ["webapp.web.host_config.restart: unknown option 'restart' (did you mean 'restart_policy'?)"],
        id="host_config_unknown",
    ),
    pytest.param(
        {"web": {"image": "MyApp:1.0"}},
        ["webapp.web.image: invalid image reference 'MyApp:1.0' (repository names must be lower-case)"],
        id="image_uppercase",
    ),
    pytest.param(
        {"web": {"image": "app:bad tag"}},
        ["webapp.web.image: invalid image reference 'app:bad tag'"],
        id="image_bad_tag",
    ),
    pytest.param(
        {"web": {"image": 5}},
        ["webapp.web.image: expected an image name, got int 5"],
        id="image_int",
    ),
    pytest.param(
        {"WebServer": {}},
        [
            "webapp.WebServer.image: no image set and the configuration name 'WebServer' is not a valid image name"
        ],
        id="config_name_uppercase_no_image",
    ),
    pytest.param(
        {"web server": {"image": "x"}},
        [
            "webapp.web server: invalid configuration name 'web server' (allowed: letters, digits, '_', '-'; must start with a letter or digit)"
        ],
        id="config_name_invalid",
    ),
    pytest.param(
        {"web.server": {"image": "x"}},
        [
            "webapp.web.server: invalid configuration name 'web.server' (allowed: letters, digits, '_', '-'; must start with a letter or digit)"
        ],
        id="config_name_dot",
    ),
    pytest.param(
        {"web": "nginx"},
        ["webapp.web: expected a mapping (container configuration), got str 'nginx'"],
        id="config_not_mapping",
    ),
    pytest.param(
        {"repositry": "registry.local"},
        [
            "webapp.repositry: looks like a misspelled map key 'repository' (a top-level key that is not a map key is a container configuration, which must be a mapping; got str 'registry.local')"
        ],
        id="misspelled_repository",
    ),
    pytest.param(
        {"volume": {"data": "/data"}},
        [
            "webapp.volume: looks like a misspelled map key 'volumes' (a top-level key that is not a map key is a container configuration, and this one has unknown keys: data)"
        ],
        id="misspelled_volumes_dict",
    ),
    pytest.param(
        {"volumes": ["/data"]},
        ["webapp.volumes: expected a mapping of alias to path or volume configuration, got list ['/data']"],
        id="volumes_list",
    ),
    pytest.param(
        {"volumes": {"data": "data"}},
        ["webapp.volumes.data: volume path 'data' must be absolute (start with '/')"],
        id="volumes_relative",
    ),
    pytest.param(
        {"volumes": {"data": {"path": "/data"}}},
        ["webapp.volumes.data.path: unknown key 'path'"],
        id="volumes_unknown_key",
    ),
    pytest.param(
        {"volumes": {"bad alias": "/data"}},
        ["webapp.volumes['bad alias']: invalid volume alias 'bad alias'"],
        id="volumes_bad_alias",
    ),
    pytest.param(
        {"volumes": {"data": {"default_path": "/d", "driver_options": "x"}}},
        ["webapp.volumes.data.driver_options: expected a dict, got str 'x'"],
        id="volumes_driver_options_type",
    ),
    pytest.param(
        {"networks": ["back"]},
        ["webapp.networks: expected a mapping of network name to network configuration, got list ['back']"],
        id="networks_list",
    ),
    pytest.param(
        {"networks": {"back": {"drvier": "overlay"}}},
        ["webapp.networks.back.drvier: unknown key 'drvier' (did you mean 'driver'?)"],
        id="networks_unknown_key",
    ),
    pytest.param(
        {"networks": {"bridge": None}},
        ["webapp.networks.bridge: 'bridge' is a Docker preset network; use it without defining it"],
        id="networks_preset",
    ),
    pytest.param(
        {"networks": {"back": {"internal": "yes"}}},
        ["webapp.networks.back.internal: expected true or false, got str 'yes'"],
        id="networks_internal_type",
    ),
    pytest.param(
        {"host": {"data": 5}},
        ["webapp.host.data: expected a host path or a dict of instance name to host path, got int 5"],
        id="host_bad_value",
    ),
    pytest.param(
        {"host": {"data": "data", "cfg": {"i1": "cfg/i1"}}},
        [
            "webapp.host.data: relative host path 'data' needs a root (set host_root or host.root)",
            "webapp.host.cfg.i1: relative host path 'cfg/i1' needs a root (set host_root or host.root)",
        ],
        id="host_relative_no_root",
    ),
    pytest.param(
        {"web": {"binds": {"/d": "data"}}},
        ["webapp.web.binds[0]: relative host path 'data' needs a root (set host_root or host.root)"],
        id="bind_relative_no_root",
    ),
    pytest.param(
        {"groups": {"__all__": ["web"]}},
        [
            "webapp.groups.__all__: '__all__' is the built-in group of all configurations and cannot be defined"
        ],
        id="groups_all",
    ),
    pytest.param(
        {"groups": {"g": ["a.b.c"]}},
        ["webapp.groups.g[0]: invalid group member 'a.b.c' (expected 'config' or 'config.instance')"],
        id="groups_bad_member",
    ),
    pytest.param(
        {"groups": {"g": 5}},
        ["webapp.groups.g: expected a list of 'config' / 'config.instance' names, got int 5"],
        id="groups_type",
    ),
    pytest.param(
        {"repository": "Registry.local/NS"},
        ["webapp.repository: invalid repository prefix 'Registry.local/NS' (must be lower-case)"],
        id="repository_uppercase",
    ),
    pytest.param(
        {"default_tag": "bad tag"},
        [
            "webapp.default_tag: invalid image tag 'bad tag' (letters, digits, '_', '.', '-'; at most 128 characters)"
        ],
        id="default_tag_bad",
    ),
    pytest.param(
        {"set_hostname": "no"},
        ["webapp.set_hostname: expected true or false, got str 'no'"],
        id="set_hostname_string",
    ),
    pytest.param(
        {"use_attached_parent_name": 1},
        ["webapp.use_attached_parent_name: expected true or false, got int 1"],
        id="use_attached_parent_name_int",
    ),
    pytest.param(
        {"clients": 5},
        ["webapp.clients: expected a name or a list of them, got int 5"],
        id="clients_int",
    ),
    pytest.param(
        {"containers": ["web"]},
        [
            "webapp.containers: expected a mapping of configuration name to container configuration, got list ['web']"
        ],
        id="containers_list",
    ),
    pytest.param(
        {"web": {"image": "a"}, "containers": {"web": {"image": "b"}}},
        ["webapp.web: configuration is defined twice (at top level and under 'containers')"],
        id="duplicate_config",
    ),
    pytest.param(
        {"web": {"extends": "base"}},
        ["webapp.web.extends[0]: unknown configuration 'base'"],
        id="extends_missing",
    ),
    pytest.param(
        {"base_web": {"abstract": True}, "web": {"extends": ["base_wbe"]}},
        ["webapp.web.extends[0]: unknown configuration 'base_wbe' (did you mean 'base_web'?)"],
        id="extends_missing_close",
    ),
    pytest.param(
        {"web": {"extends": "web"}},
        ["webapp.web.extends[0]: configuration extends itself"],
        id="extends_self",
    ),
    pytest.param(
        {"a": {"extends": "b"}, "b": {"extends": "c"}, "c": {"extends": "a"}},
        ["webapp.c.extends[0]: extends cycle: a -> b -> c -> a"],
        id="extends_cycle",
    ),
    # --- typed create_options / host_config values (H16)
    pytest.param(
        {"db": {"host_config": {"mem_limit": "lots"}}},
        ["webapp.db.host_config.mem_limit: expected a byte size like 512m or an integer, got 'lots'"],
        id="mem_limit_words",
    ),
    pytest.param(
        {"db": {"create_options": {"memswap_limit": "-2g"}}},
        ["webapp.db.create_options.memswap_limit: expected a byte size like 512m or an integer, got '-2g'"],
        id="memswap_limit_negative_string",
    ),
    pytest.param(
        {"db": {"host_config": {"mem_limit": -5}}},
        ["webapp.db.host_config.mem_limit: expected a byte size like 512m or an integer, got -5"],
        id="mem_limit_negative",
    ),
    pytest.param(
        {"db": {"host_config": {"cpu_shares": "many"}}},
        ["webapp.db.host_config.cpu_shares: expected an integer, got 'many'"],
        id="cpu_shares_str",
    ),
    pytest.param(
        {"db": {"host_config": {"blkio_weight": 5000}}},
        ["webapp.db.host_config.blkio_weight: 5000 is out of range (0..1000)"],
        id="blkio_weight_range",
    ),
    pytest.param(
        {"db": {"host_config": {"restart_policy": "sometimes"}}},
        [
            "webapp.db.host_config.restart_policy: expected 'no', 'always', 'unless-stopped', "
            "'on-failure[:N]' or {Name: ..., MaximumRetryCount: N}, got 'sometimes'"
        ],
        id="restart_policy_unknown_str",
    ),
    pytest.param(
        {"db": {"host_config": {"restart_policy": "always:3"}}},
        [
            "webapp.db.host_config.restart_policy: expected 'no', 'always', 'unless-stopped', "
            "'on-failure[:N]' or {Name: ..., MaximumRetryCount: N}, got 'always:3'"
        ],
        id="restart_policy_count_on_always",
    ),
    pytest.param(
        {"db": {"host_config": {"restart_policy": {"Name": "maybe", "MaximumRetryCount": "x", "Nmae": 1}}}},
        [
            "webapp.db.host_config.restart_policy.Nmae: unknown restart policy key 'Nmae' (did you mean 'Name'?)",
            "webapp.db.host_config.restart_policy.Name: expected one of no, always, unless-stopped, on-failure, got 'maybe'",
            "webapp.db.host_config.restart_policy.MaximumRetryCount: expected a non-negative integer, got 'x'",
        ],
        id="restart_policy_bad_dict",
    ),
    pytest.param(
        {"db": {"host_config": {"ulimits": {"nofile": 5}}}},
        ["webapp.db.host_config.ulimits: expected a list of {name, soft, hard} dicts, got {'nofile': 5}"],
        id="ulimits_dict",
    ),
    pytest.param(
        {"db": {"host_config": {"ulimits": [{"Name": "nofile", "Soft": "x"}, 5, {"soft": 1, "size": 2}]}}},
        [
            "webapp.db.host_config.ulimits[0].Soft: expected an integer, got 'x'",
            "webapp.db.host_config.ulimits[1]: expected a {name, soft, hard} dict, got 5",
            "webapp.db.host_config.ulimits[2].size: unknown ulimit key 'size' (use name, soft, hard)",
            "webapp.db.host_config.ulimits[2]: ulimit needs a name, got None",
        ],
        id="ulimits_items",
    ),
    pytest.param(
        {"db": {"create_options": {"environment": {"A=B": "x", "C\nD": "y", "OK": "z\nnewline value"}}}},
        [
            "webapp.db.create_options.environment['A=B']: invalid environment variable name 'A=B' (no '=', newline or NUL allowed)",
            "webapp.db.create_options.environment['C\\nD']: invalid environment variable name 'C\\nD' (no '=', newline or NUL allowed)",
        ],
        id="environment_bad_names",
    ),
    pytest.param(
        {"db": {"create_options": {"environment": ["A=1", "PLAIN", "=x", "B\nC=1"]}}},
        [
            "webapp.db.create_options.environment[1]: expected 'NAME=value', got str 'PLAIN'",
            "webapp.db.create_options.environment[2]: environment variable names must be strings, got str ''",
            "webapp.db.create_options.environment[3]: invalid environment variable name 'B\\nC' (no '=', newline or NUL allowed)",
        ],
        id="environment_list_entries",
    ),
    pytest.param(
        {"db": {"create_options": {"labels": 5}}},
        ["webapp.db.create_options.labels: expected a dict of labels or a list of label names, got 5"],
        id="labels_int",
    ),
    pytest.param(
        {"db": {"create_options": {"labels": {"a": {"nested": 1}}}}},
        ["webapp.db.create_options.labels.a: expected a label value string, got {'nested': 1}"],
        id="labels_nested_value",
    ),
    pytest.param(
        {"db": {"create_options": {"command": 5}}},
        ["webapp.db.create_options.command: expected a command string or a list of arguments, got 5"],
        id="command_int",
    ),
    pytest.param(
        {"db": {"create_options": {"entrypoint": ["sh", {"x": 1}]}}},
        ["webapp.db.create_options.entrypoint[1]: expected an argument string, got {'x': 1}"],
        id="entrypoint_bad_item",
    ),
    pytest.param(
        {"db": {"create_options": {"entrypoint": True}}},
        ["webapp.db.create_options.entrypoint: expected a command string or a list of arguments, got True"],
        id="entrypoint_bool",
    ),
    pytest.param(
        {"db": {"exec_commands": [{"cmd": "x", "user": "a b"}, ["y", "root; id"]]}},
        [
            "webapp.db.exec_commands[0].user: invalid user str 'a b'",
            "webapp.db.exec_commands[1]: invalid user str 'root; id'",
        ],
        id="exec_user_spaces",
    ),
    pytest.param(
        {
            "db": {"stop_timeout": float("nan")},
            "web": {"stop_timeout": float("inf")},
            "app": {"stop_timeout": -1},
        },
        [
            "webapp.db.stop_timeout: expected a finite number of seconds, got nan",
            "webapp.web.stop_timeout: expected a finite number of seconds, got inf",
            "webapp.app.stop_timeout: must not be negative, got -1",
        ],
        id="stop_timeout_nan_inf_negative",
    ),
    pytest.param(
        {"db": {"create_options": {"stop_timeout": 1.5}}},
        ["webapp.db.create_options.stop_timeout: expected a non-negative integer number of seconds, got 1.5"],
        id="create_stop_timeout_float",
    ),
    pytest.param(
        {"default_domain": "a b", "db": {}},
        [
            "webapp.default_domain: invalid domain name 'a b' (dot-separated labels of letters, digits and '-', each at most 63 characters)"
        ],
        id="default_domain_space",
    ),
    pytest.param(
        {"default_domain": "-x.example.com", "db": {}},
        [
            "webapp.default_domain: invalid domain name '-x.example.com' (dot-separated labels of letters, digits and '-', each at most 63 characters)"
        ],
        id="default_domain_bad_label",
    ),
    pytest.param(
        {"db": {"host_config": {"binds": 5}}},
        [
            "webapp.db.host_config.binds: expected a list of 'host path:container path[:mode]' or a dict, got 5"
        ],
        id="host_config_binds_int",
    ),
    pytest.param(
        {"db": {"create_options": {"host_config": {"mem_limit": "lots", "anything": 1}}}},
        [
            "webapp.db.create_options.host_config.mem_limit: expected a byte size like 512m or an integer, got 'lots'"
        ],
        id="nested_host_config_in_create_options",
    ),
    pytest.param(
        {"db": {"host_config": {"init": "yes", "dns": 5}}},
        [
            "webapp.db.host_config.init: expected true or false, got 'yes'",
            "webapp.db.host_config.dns: expected a string or a list of strings, got 5",
        ],
        id="host_config_bool_and_list",
    ),
    pytest.param(
        {"c" * 40: {"image": "x", "instances": ["ok", "i" * 20]}},
        [
            f"webapp.{'c' * 40}.instances[1]: the generated hostname 'webapp-{'c' * 33}'... "
            "is 68 characters, Docker allows at most 63: use shorter map, configuration or instance names "
            "(or set_hostname: false)"
        ],
        id="hostname_too_long",
    ),
    pytest.param(
        {"d" * 60: {"image": "x"}},
        [
            f"webapp.{'d' * 60}: the generated hostname 'webapp-{'d' * 33}'... "
            "is 67 characters, Docker allows at most 63: use shorter map, configuration or instance names "
            "(or set_hostname: false)"
        ],
        id="hostname_too_long_single",
    ),
    pytest.param(
        {"db": {"binds": [[["x"] * 1000, "ro"]]}},
        ["webapp.db.binds[0]: invalid volume alias ['x', 'x', 'x', 'x', 'x', 'x', ...]"],
        id="huge_value_is_cut_in_message",
    ),
]


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_invalid_map(data, expected):
    m, problems = ContainerMap.load("webapp", data, check_integrity=False)
    assert [str(p) for p in problems] == expected
    assert expected, "every case must produce at least one problem"


def test_link_to_abstract_config_is_named_as_such():
    """A reference to an abstract config says why it cannot work instead of 'unknown'."""
    data = {"base": {"abstract": True, "image": "x"}, "web": {"extends": "base", "links": "base"}}
    _, problems = ContainerMap.load("webapp", data)
    assert [str(p) for p in problems] == [
        "webapp.web.links[0]: container 'base' is abstract and is never created"
    ]


def test_relative_host_root_is_rejected():
    """A relative root would make every host path relative, which Docker takes for volume names."""
    data = {
        "host_root": "srv/data",
        "host": {"logs": "logs"},
        "volumes": {"logs": "/var/log/app"},
        "app": {"binds": "logs"},
    }
    _, problems = ContainerMap.load("webapp", data)
    assert [str(p) for p in problems] == [
        "webapp.host.root: host root 'srv/data' must be an absolute path (host_root / host.root)"
    ]


def test_relative_lazy_host_root_fails_when_resolved():
    from containermap.config.lazy import Lazy
    from containermap.exceptions import ConfigurationError

    m = ContainerMap("webapp", {"host_root": Lazy(lambda: "srv"), "host": {"logs": "logs"}})
    with pytest.raises(ConfigurationError, match=r"host root 'srv' must be an absolute path"):
        m.host.get_path("logs")


VALID_OPTIONS = [
    {"host_config": {"mem_limit": "512m", "memswap_limit": -1, "cpu_shares": 512}},
    {"host_config": {"mem_limit": "1g", "memswap_limit": "1.5g", "shm_size": 67108864}},
    {"host_config": {"mem_limit": 536870912, "mem_reservation": "256mb"}},
    {"host_config": {"restart_policy": {"Name": "on-failure", "MaximumRetryCount": 3}}},
    {
        "host_config": {
            "ulimits": [{"name": "nofile", "soft": 1024, "hard": 2048}, {"Name": "core", "Soft": 0}]
        }
    },
    {"host_config": {"binds": ["/srv:/srv:ro"], "init": True, "dns": "10.0.0.1", "cap_add": ["NET_ADMIN"]}},
    {"create_options": {"labels": {"a": "1", "b": 2}, "command": ["sleep", 100], "entrypoint": "sh -c"}},
    {"create_options": {"labels": ["a", "b"], "environment": {"NASTY": "a;b\nsecond"}, "stop_timeout": 3}},
    {"create_options": {"environment": ["A=1", "B=x=y", "C="], "mem_limit": "64m", "user": 1000}},
    {"exec_commands": [{"cmd": "x", "user": "app:app"}, ["y", 1000], ("z", "root", "initial")]},
    {"stop_timeout": 2.5, "host_config": {"restart_policy": None}},
]


@pytest.mark.parametrize("settings", VALID_OPTIONS)
def test_valid_option_forms_pass(settings):
    _, problems = ContainerMap.load("webapp", {"db": {"image": "x", **settings}}, check_integrity=False)
    assert [str(p) for p in problems] == []


@pytest.mark.parametrize(
    ("short_form", "expected"),
    [
        ("always", {"Name": "always", "MaximumRetryCount": 0}),
        ("unless-stopped", {"Name": "unless-stopped", "MaximumRetryCount": 0}),
        ("no", {"Name": "no", "MaximumRetryCount": 0}),
        ("on-failure", {"Name": "on-failure", "MaximumRetryCount": 0}),
        ("on-failure:5", {"Name": "on-failure", "MaximumRetryCount": 5}),
    ],
)
def test_restart_policy_shorthand_is_normalised(short_form, expected):
    m = ContainerMap("webapp", {"db": {"image": "x", "host_config": {"restart_policy": short_form}}})
    assert m.containers["db"].host_config["restart_policy"] == expected


def test_lazy_option_values_are_not_checked():
    from containermap.config.lazy import Lazy

    lazy = Lazy(lambda: "lots")
    m = ContainerMap("webapp", {"db": {"image": "x", "host_config": {"mem_limit": lazy, "cpu_shares": lazy}}})
    assert m.containers["db"].host_config["mem_limit"] is lazy


def test_set_hostname_false_allows_long_names():
    data = {"set_hostname": False, "d" * 60: {"image": "x"}}
    _, problems = ContainerMap.load("webapp", data, check_integrity=False)
    assert problems == []


def test_hostname_includes_the_client_name():
    """webapp-<30 d>-<client> is 63 characters with a 25-character client name, 65 with 27."""
    ok = {"clients": ["a" * 25], "d" * 30: {"image": "x"}}
    assert ContainerMap.load("webapp", ok, check_integrity=False)[1] == []
    long = {"clients": ["a" * 27], "d" * 30: {"image": "x"}}
    _, problems = ContainerMap.load("webapp", long, check_integrity=False)
    assert [str(p) for p in problems] == [
        f"webapp.{'d' * 30}: the generated hostname 'webapp-{'d' * 30}-aa'... is 65 characters on client "
        f"'{'a' * 27}', Docker allows at most 63: use shorter map, configuration or instance names "
        "(or set_hostname: false)"
    ]


def test_describe_is_bounded_for_huge_values():
    """A value with 10^9 leaves through shared references is described instantly."""
    import time

    from containermap.config.normalize import describe, short

    value: list = ["x"] * 10
    for _ in range(9):
        value = [value] * 10
    start = time.monotonic()
    texts = [describe(value), short(value), short("y" * 10_000)]
    assert time.monotonic() - start < 0.5
    assert [len(t) <= 200 for t in texts] == [True, True, True], texts
