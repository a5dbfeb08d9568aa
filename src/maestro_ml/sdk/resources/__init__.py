"""One module per resource of the REST API, each exposed as an attribute of ``Client``."""

from .api_keys import ApiKeys
from .datasets import Datasets
from .deployments import Deployments
from .experiments import Experiments
from .jobs import Jobs
from .models import Models
from .runs import Runs

__all__ = ["ApiKeys", "Datasets", "Deployments", "Experiments", "Jobs", "Models", "Runs"]
