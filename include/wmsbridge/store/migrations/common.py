"""What every migration shares, fixed for good: the MySQL/MariaDB dialect names and the table options
(InnoDB, utf8mb4 with a binary collation, so codes compare byte for byte). Migrations import these
instead of restating them; a migration that needs something else adds a new name, never edits one."""

MYSQL = ("mysql", "mariadb")
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
