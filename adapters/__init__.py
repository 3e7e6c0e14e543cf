"""Adapters: bring agency data in (files, REST pull, push API) through the shared intake."""
