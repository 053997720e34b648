"""boto3 adapter, the only package importing boto3: AWS identity and the cleanup after a cluster."""

from provisioning.aws.cleaner import AwsCleaner, build_cloud_cleaner
from provisioning.aws.errors import error_code, map_client_error
from provisioning.aws.session import SessionFactory
from provisioning.aws.tagged import kind_of

__all__ = [
    "AwsCleaner",
    "SessionFactory",
    "build_cloud_cleaner",
    "error_code",
    "kind_of",
    "map_client_error",
]
