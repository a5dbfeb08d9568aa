"""Other platforms' wire protocols, served over Maestro's own services: MLflow and OIP v2."""
