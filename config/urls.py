from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.views import healthz
from operations.views import dashboard

admin.site.site_header = "개인정보 이전 중개 서비스 관리"
admin.site.site_title = "Consent broker"
admin.site.index_title = "관리"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/dashboard/", admin.site.admin_view(dashboard), name="dashboard"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # The operator API (transfers) and the merchants' pages and webhooks (consent).
    path("api/", include("transfers.urls")),
    path("", include("consent.urls")),
]
