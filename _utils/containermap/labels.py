"""Labels the engine puts on every object it creates (one place for their names)."""

PREFIX = "org.dockerfabric"
MAP = f"{PREFIX}.map"
CONFIG = f"{PREFIX}.config"
INSTANCE = f"{PREFIX}.instance"
# hash of the fully resolved desired configuration: equal hash = nothing to do
HASH = f"{PREFIX}.hash"
# objects that exist only during one operation (helper containers, script runs); any left over
# by an interrupted run are removed by the next run
TEMPORARY = f"{PREFIX}.temporary"
# the test suite marks everything it creates with this label (value: the test run id)
TEST = f"{PREFIX}.test"
# hash of what can be changed in place (resource limits, restart policy, network endpoints)
UPDATE_HASH = f"{HASH}.update"
# canonical JSON of the desired fields: explains a changed hash field by field without inspect
SPEC = f"{PREFIX}.spec"
