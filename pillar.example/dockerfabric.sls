# Pillar for the dockerfabric formula: `salt '*' state.apply dockerfabric` makes every minion
# that gets this pillar (see top.sls) run the maps below. Check the maps without touching a host:
#     python -m containermap validate pillar.example/dockerfabric.sls
#
# dockerfabric:maps is a dict map name -> map, each map in the docker-map format (the same keys
# as a map file; see maps/webapp.yml for the same map as a plain map file). The pillar key
# `container_maps` of salt-container-map is read as well, so existing pillars keep working.
# In pillar files rendered by Salt, use Jinja (or `!pillar` / `!grain` with the dockerfabric
# renderer) instead of the `!env` / `!path` tags of map files.
#
# The map: a web server in front of two app server instances (the example of the docker-fabric
# documentation), adapted to a host without Docker Hub: every image is the local busybox image.
dockerfabric:
  # Maps can also be plain map files on the Salt file server, loaded on the minion (there the
  # tags !env, !path, !pillar and !grain work); e.g. maps/webapp.yml copied to the file roots:
  #   map_files:
  #     - salt://maps/webapp.yml
  # (not together with the inline map below: a map name can only be defined once)
  maps:
    # map name: container names are <map>.<config>[.<instance>], e.g. webapp.app_server.instance1
    webapp:
      # Images without a '/' get this prefix and, without a tag, ':latest': busybox -> local/busybox:latest.
      # Write '/busybox' to skip the prefix.
      repository: local

      # Relative host paths in `host` (and in direct binds) are below this directory.
      host_root: /srv/webapp

      # Every key that is not a map key (repository, host_root, volumes, host, networks, groups, ...)
      # is a container configuration.
      web_server:
        image: busybox
        # direct bind: container path -> [host path, ro]; the relative host path is under host_root
        binds:
          /etc/httpd:
            - config/httpd
            - ro
        # mount the socket volume attached by app_server; this makes web_server depend on app_server
        uses: app_server_socket
        # a named volume (webapp.web_log) owned by this configuration, mounted at volumes.web_log
        attaches: web_log
        # reach both app servers by name (the default alias would be app-server-instance1)
        links:
          - app_server.instance1: app1
          - app_server.instance2: app2
        # container port 80 published on host port 8080 (all addresses)
        exposes:
          80: 8080
        # anything of Docker's create / host config that the map keys do not cover
        create_options:
          command: httpd -f -p 80 -h /etc/httpd
        host_config:
          init: true              # busybox does not forward SIGTERM; tini does

      app_server:
        image: busybox
        # two containers: webapp.app_server.instance1 and webapp.app_server.instance2
        instances:
          - instance1
          - instance2
        # bind aliases: container path from `volumes`, host path per instance from `host`
        binds:
          - app_config: ro
          - app_data
        # named volumes owned by app_server, owner 2000 and mode u=rwX,g=rX,o= (set on creation)
        attaches:
          - app_log
          - app_server_socket
        user: 2000
        permissions: u=rwX,g=rX,o=
        create_options:
          command: sleep 2147483647
        host_config:
          init: true

      # Volume aliases -> path inside the containers.
      volumes:
        web_log: /var/log/httpd
        app_server_socket: /var/lib/app/socket
        app_config: /var/lib/app/config
        app_log: /var/lib/app/log
        app_data: /var/lib/app/data

      # Bind aliases -> path on the Docker host (per instance; relative to host_root).
      host:
        app_config:
          instance1: config/app1
          instance2: config/app2
        app_data:
          instance1: data/app1
          instance2: data/app2

      # Act on several configurations at once: `dockerfabric.startup webapp.frontend`.
      groups:
        frontend:
          - web_server
