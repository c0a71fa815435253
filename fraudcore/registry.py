"""The model-registry client: register versions, move aliases under a lock, load models."""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Iterator

import mlflow.pyfunc
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from fraudcore.models.base import FraudModel
from fraudcore.settings import Settings, get_settings
from fraudcore.tracking import connect_mlflow

CHAMPION = "champion"
CHALLENGER = "challenger"
#: Run and version tag naming the feature set a model was trained on (``FEATURE_SET``).
FEATURE_SET_TAG = "feature_set"


class RegistryError(RuntimeError):
    """The registry could not answer (unreachable, refused, inconsistent): nothing was changed."""


@contextlib.contextmanager
def registry_errors(action: str) -> Iterator[None]:
    """Turn MLflow and network failures into a :class:`RegistryError` that says what was being done."""
    try:
        yield
    except RegistryError:
        raise
    except (MlflowException, OSError) as error:
        raise RegistryError(f"{action} failed: {error}") from error


class ModelRegistry:
    """The platform's registered model (``settings.model_name``) in MLflow."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.name = self.settings.model_name
        self.client = connect_mlflow(self.settings)

    def register(self, run_id: str, artifact_path: str = "model") -> ModelVersion:
        """Register the run's model as a new version with alias ``challenger`` and its feature set."""
        version = mlflow.register_model(
            f"runs:/{run_id}/{artifact_path}", self.name, await_registration_for=0
        )
        feature_set = self.client.get_run(run_id).data.tags.get(FEATURE_SET_TAG)
        if feature_set:
            self.client.set_model_version_tag(self.name, version.version, FEATURE_SET_TAG, feature_set)
        self.client.set_registered_model_alias(self.name, CHALLENGER, version.version)
        return version

    def aliases(self) -> dict[str, str]:
        """Alias -> version of the registered model (empty when it has none or does not exist yet)."""
        try:
            return dict(self.client.get_registered_model(self.name).aliases)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return {}
            raise RegistryError(f"reading the aliases of {self.name!r} failed: {error}") from error
        except OSError as error:
            raise RegistryError(f"reading the aliases of {self.name!r} failed: {error}") from error

    def version(self, version: str) -> ModelVersion:
        with registry_errors(f"reading version {version} of {self.name!r}"):
            return self.client.get_model_version(self.name, version)

    def version_by_alias(self, alias: str) -> ModelVersion | None:
        number = self.aliases().get(alias)
        return None if number is None else self.version(number)

    def feature_set(self, version: str) -> str | None:
        """The feature set the version's run was trained on (None: trained before it was recorded)."""
        run_id = self.version(version).run_id
        with registry_errors(f"reading the run of version {version}"):
            return self.client.get_run(run_id).data.tags.get(FEATURE_SET_TAG)

    def load_version(self, version: str) -> FraudModel:
        """The model object of a version (its class is imported from fraudcore.models)."""
        return mlflow.pyfunc.load_model(f"models:/{self.name}/{version}").unwrap_python_model()

    def load(self, alias: str = CHAMPION) -> mlflow.pyfunc.PyFuncModel:
        """The model behind ``models:/<name>@<alias>``."""
        return mlflow.pyfunc.load_model(f"models:/{self.name}@{alias}")

    def set_alias(self, alias: str, version: str) -> None:
        with registry_errors(f"moving alias {alias!r} to version {version}"):
            self.client.set_registered_model_alias(self.name, alias, version)

    def tag_version(self, version: str, tags: dict[str, str]) -> None:
        with registry_errors(f"tagging version {version}"):
            for key, value in tags.items():
                self.client.set_model_version_tag(self.name, version, key, value)

    @property
    def lock_name(self) -> str:
        return f"{self.name}.gate-lock"

    @contextlib.contextmanager
    def exclusive(self, purpose: str, poll_s: float = 0.5) -> Iterator[None]:
        """Hold the model's registry lock while the block runs (one promotion at a time).

        The lock is a registered model named ``<model>.gate-lock`` whose description names its
        holder: MLflow's store refuses a second model of the same name, which makes taking it
        atomic on any backend. A lock older than ``gate_lock_timeout_s`` (its holder died) is
        broken by renaming it first (only one breaker's rename succeeds). On release, only our own
        lock is deleted.
        """
        holder = f"{purpose} on {socket.gethostname()} pid {os.getpid()} ({uuid.uuid4().hex[:8]})"
        # Wait long enough to outlive a dead holder's lock (it counts as stale after the timeout).
        deadline = time.monotonic() + 2 * self.settings.gate_lock_timeout_s
        while (outcome := self._try_lock(holder)) != "taken":
            if time.monotonic() > deadline:
                raise RegistryError(f"registry lock {self.lock_name!r} still held after waiting")
            if outcome == "held":
                time.sleep(poll_s)
        self._holder = holder
        try:
            yield
        finally:
            self._holder = None
            self._release(holder)

    def _try_lock(self, holder: str) -> str:
        """Take the lock ("taken"), break it when stale ("broken": try again at once), or find it
        held by someone else ("held")."""
        with registry_errors(f"taking the registry lock {self.lock_name!r}"):
            try:
                self.client.create_registered_model(self.lock_name, description=holder)
                return "taken"
            except MlflowException as error:
                if error.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            try:
                held = self.client.get_registered_model(self.lock_name)
            except MlflowException as error:
                if error.error_code == "RESOURCE_DOES_NOT_EXIST":  # released meanwhile: try again
                    return "broken"
                raise
            age_s = time.time() - held.creation_timestamp / 1000
            if age_s <= self.settings.gate_lock_timeout_s:
                return "held"
            broken = f"{self.lock_name}.broken-{uuid.uuid4().hex[:8]}"
            try:
                self.client.rename_registered_model(self.lock_name, broken)
            except MlflowException as error:
                if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS"):
                    return "held"  # another waiter broke it first
                raise
            print(f"broke the registry lock held for {age_s:.0f} s by: {held.description}")
            self.client.delete_registered_model(broken)
            return "broken"

    def still_exclusive(self) -> bool:
        """Whether the lock taken by ``exclusive`` is still ours (nobody broke it meanwhile)."""
        holder = getattr(self, "_holder", None)
        with registry_errors(f"checking the registry lock {self.lock_name!r}"):
            try:
                return (
                    holder is not None
                    and self.client.get_registered_model(self.lock_name).description == holder
                )
            except MlflowException as error:
                if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return False
                raise

    def _release(self, holder: str) -> None:
        with registry_errors(f"releasing the registry lock {self.lock_name!r}"):
            try:
                if self.client.get_registered_model(self.lock_name).description != holder:
                    print(f"the registry lock {self.lock_name!r} was broken while held: not ours to delete")
                    return
                self.client.delete_registered_model(self.lock_name)
            except MlflowException as error:
                if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
