"""Map configuration model (docker-map schema), YAML loading, validation and naming."""
