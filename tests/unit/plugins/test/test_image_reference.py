# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/test/image_reference.py (the grammar of k6_docker.validate_image)."""

import pytest

from ansible_collections.loadops.k6.plugins.test import image_reference as plugin

image_reference = plugin.TestModule().tests()["image_reference"]


@pytest.mark.parametrize("image", [
    "loadops/k6:1.1.0", "influxdb:1.8.10", "grafana/grafana-oss:11.6.5", "registry.example:5000/team/k6:1.1.0",
    "loadops/influxdb:1.6.7-standin", "influxdb", "k6@sha256:" + "a" * 64,
])
def test_image_references_pass(image):
    assert image_reference(image) is True


@pytest.mark.parametrize("image", [
    "", "influxdb:", "influx db:1.8.10", "Loadops/K6:1.1.0", "loadops/k6:has space", "Grafana/OSS image:1",
    "k6@sha256:short", None, 42,
])
def test_other_values_fail(image):
    assert image_reference(image) is False
