"""Salt runners of salt-dockerfabric (this file only makes pip package the directory; Salt skips it)."""
