"""The errors a user can cause (bad input, missing or corrupt files, a full disk, an impossible request).

Every one is a :class:`HatError`: the command-line tools print its message as one line and exit 2.
Any other exception is a bug and keeps its traceback.
"""
import errno

USER_IO_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EFBIG, errno.EDQUOT,
                            errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG})
"""I/O errors the user causes or fixes (permissions, read-only or full disk, file-size limit, quota): they
become an :class:`OutputError` naming the path."""


class HatError(Exception):
    """A user-facing error; the message names the input at fault and what to do."""


class ConfigError(HatError):
    """A command-line flag, config file, search space or SubTransformer config is invalid."""


class CheckpointError(HatError):
    """A checkpoint is missing, unreadable, or not the model it should be."""


class DataError(HatError):
    """Raw or binarised data missing or not as expected, or a preprocessing step failed."""


class LatencyError(HatError):
    """Latency measurement settings are invalid or the device is unavailable."""


class LatencyDataError(HatError):
    """A latency CSV is missing, empty, or malformed; the message names the file, line and column."""


class PredictorError(HatError):
    """A latency predictor file or its input is invalid."""


class InfeasibleConstraintError(HatError):
    """No (or too few) SubTransformers of the search space satisfy the constraints."""


class DownloadError(HatError):
    """A download failed; the message says why and what to do."""


class StageError(HatError):
    """A stage of an experiment failed (its own message is printed above)."""


class OutputError(HatError):
    """An output file or folder cannot be written (permissions, full disk, file-size limit)."""


def output_error(path: object, exc: OSError) -> OutputError:
    """The :class:`OutputError` of an I/O error the user can fix while writing ``path``."""
    return OutputError(f"cannot write {path}: {exc.strerror or exc}")
