"""Why a backup or a restore was refused. The CLI prints the code and both messages and exits 1."""

from __future__ import annotations

from portal.errors import Conflict, InvalidInput, PayloadTooLarge, ServiceUnavailable


class BackupDestinationNotEmpty(Conflict):
    """A backup is written into a new (or empty) directory only, never over another backup."""

    code = "backup_destination_not_empty"
    title = "The backup directory is not empty"
    title_zh = "备份目录不是空的"


class RestoreTargetNotEmpty(Conflict):
    """A restore adds nothing to a deployment that already holds data: it would mix two
    histories (two credit ledgers, two sets of tracking numbers)."""

    code = "restore_target_not_empty"
    title = "The deployment to restore into is not empty"
    title_zh = "恢复目标不是空的部署"


class BackupDamaged(InvalidInput):
    """The directory is not a complete backup, or a file differs from its manifest (size or
    SHA-256): nothing is restored from it."""

    code = "backup_damaged"
    title = "The backup is incomplete or damaged"
    title_zh = "备份不完整或已损坏"


class BackupIncompatible(InvalidInput):
    """The backup cannot go into this deployment (another database kind, an unknown store, a
    newer format, a pg_restore older than the pg_dump that wrote it)."""

    code = "backup_incompatible"
    title = "The backup does not fit this deployment"
    title_zh = "备份与本部署不兼容"


class SigningKeyMismatch(InvalidInput):
    """The credit ledger and the stickers were signed with the backed-up deployment's key; the
    restored deployment must sign with the same one, or its ledger no longer verifies."""

    code = "restore_signing_key_mismatch"
    title = "The signing key of this deployment is not the backed-up one"
    title_zh = "本部署的签名密钥与备份不一致"


class BackupTooLarge(PayloadTooLarge):
    code = "backup_too_large"
    title = "The backup exceeds a configured bound"
    title_zh = "备份超出设定的上限"


class BackupToolFailed(ServiceUnavailable):
    """pg_dump or pg_restore is missing, failed, or ran past GONGZHI_BACKUP_COMMAND_TIMEOUT_SECONDS."""

    code = "backup_tool_failed"
    title = "The database dump or restore tool failed"
    title_zh = "数据库导出或导入工具执行失败"


class RestoreCheckFailed(Conflict):
    """The restore completed but the restored deployment does not check out (row counts, photo
    hashes, the credit ledger): do not serve from it."""

    code = "restore_check_failed"
    title = "The restored deployment failed its checks"
    title_zh = "恢复后的部署未通过校验"
