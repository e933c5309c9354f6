"""Salt extension shim of salt-dockerfabric (packaging only, no code).

``pip install`` maps the repository's Salt directories into this package (setup.cfg
``package_dir``): ``_modules`` -> ``saltext_dockerfabric/modules``, ``_states`` -> ``states``,
``_runners`` -> ``runners``, ``_renderers`` -> ``renderers``. The ``salt.loader`` entry point
``dockerfabric = saltext_dockerfabric`` (package form) makes Salt load ``<this package>/<type>``,
so an installed minion or master needs no ``saltutil.sync_all``. The engine itself is the separate
package ``containermap``.
"""
