"""Side-by-side benchmark: this project against docker-compose v1, saltext-dockermod and the plain
docker SDK on one workload (see run.py and bench/README.md)."""
