"""Teardown: everything the deployment made for an endpoint, found by its tag and names and
deleted (the public API, the autoscaling, the endpoint, its configurations and models, and with
``everything`` the model archives and image repositories those models name); or, in a dry run,
said without asking AWS anything."""

from scripts.lib.cloud import endpoint, guarded, public_api, push, s3, scale
from scripts.lib.cloud.aws import Aws
from scripts.lib.cloud.names import TAG_KEY, resource_name, secret_parameter
from scripts.lib.progress import say


def teardown(aws: Aws, name: str, everything: bool = False) -> None:
    """Delete what was made for endpoint ``name``, saying each thing as it goes."""
    public_api.remove(public_api.PublicApi(aws, name))
    scale.remove(aws, name)
    guarded.remove_alarms(aws, name)
    containers = endpoint.teardown(aws, name)
    if everything:
        s3.delete_objects(aws, {c["ModelDataUrl"] for c in containers if c.get("ModelDataUrl")})
        push.delete_repositories(aws, {c["Image"] for c in containers if c.get("Image")})


def plan(name: str, everything: bool = False) -> None:
    """What ``teardown`` would delete, said without asking AWS (a dry run makes no reads)."""
    api = resource_name(name, "")
    targets = [
        f"REST API {api} (tagged {TAG_KEY}={name}), its usage plan and API keys {api}*",
        f"Lambda function {resource_name(name, 'authorizer')} and SecureString "
        f"{secret_parameter(name)}, if the API used tokens",
        f"IAM roles {resource_name(name, 'api')} and {resource_name(name, 'authorizer')}",
        f"the autoscaling of endpoint/{name}/variant/{endpoint.VARIANT} and its alarm, if any",
        f"the rollback alarms {guarded.alarm_prefix(name)}*, if guarded updates made them",
        f"endpoint {name}, if it exists",
        f"every endpoint configuration tagged {TAG_KEY}={name}",
        f"every model tagged {TAG_KEY}={name}",
    ]
    if everything:
        targets += [
            "the model archives in S3 that those models name (ModelDataUrl)",
            "the ECR repositories of their images (images in other registries are left alone)",
        ]
    say("[dry run] would delete:")
    for target in targets:
        say(f"[dry run]   {target}")
