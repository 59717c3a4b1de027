"""The portal's own pages: home, login, registration, account."""
