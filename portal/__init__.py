"""The Gongzhi application shell: settings, database, accounts, regions, outbox, audit, pages."""
