# One image for every opaska process; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY core ./core
COPY opaska ./opaska
COPY registry ./registry
COPY gateway ./gateway
COPY alarm_center ./alarm_center
COPY console ./console
COPY simulator ./simulator
COPY config ./config
# The directory exists, owned by opaska, so that a fresh named volume mounted there (the
# Mosquitto auth files, docker-compose.yml) is writable by it.
RUN pip install --no-cache-dir . && useradd --system --uid 10001 opaska \
    && mkdir -p /var/lib/opaska/mosquitto-auth && chown opaska /var/lib/opaska/mosquitto-auth
USER opaska
ENV OPASKA_CONFIG_FILE=/app/config/opaska.toml
EXPOSE 8000
CMD ["opaska", "console"]
