"""ClickHouse as a store: the OpenTelemetry Collector exporter's tables, read and written.

``client``   one ``connect(StoreURL)`` for a server (HTTP/HTTPS) or an embedded chDB
``ddl``      the exporter's table DDL (current generation), used by ``export --to``
``schema``   probes which exporter generation each table is (once per table)
``queries``  the named ClickHouse queries that read the exporter tables in the store's
             canonical Arrow shapes, filters in the sort key's own form
``remote``   ``RemoteStore``: the working set those queries fill, read by every analysis
"""
