# Pillar for the getting-started guide (docs/getting-started.md): one map "demo" with a web
# server publishing port 8080 and a worker that mounts the web server's volume. The images
# are local: busybox tagged local/busybox:latest (see the guide for making it).
dockerfabric:
  maps:
    demo:
      repository: local          # busybox -> local/busybox:latest
      networks:
        backend: {}              # Docker network demo.backend
      volumes:
        site: /var/www           # attached volume alias -> path in the containers
      web:
        image: busybox
        attaches: site           # named volume demo.site, owned by web
        exposes:
          80: 8080               # container port 80 on host port 8080
        networks: [backend]
        create_options:
          command: httpd -f -p 80 -h /var/www
        host_config:
          init: true             # tini as PID 1: busybox ignores SIGTERM otherwise
      worker:
        image: busybox
        uses: site               # mounts demo.site too; so it starts after web
        networks: [backend]
        create_options:
          command: sleep 2147483647
          environment:
            GREETING: hello
        host_config:
          init: true
