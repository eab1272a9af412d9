"""The subjects' phone blind index becomes a hash index on PostgreSQL (equality lookups only),
leaving out subjects without a phone: see `governance.models.EqualityIndex` for why."""

from django.db import migrations, models

import governance.models


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0003_subject_fewer_indexes'),
    ]

    operations = [
        migrations.AlterField(
            model_name='datasubject',
            name='phone_index',
            field=models.CharField(blank=True, max_length=64, verbose_name='연락처 검색 색인'),
        ),
        migrations.AddIndex(
            model_name='datasubject',
            index=governance.models.EqualityIndex(condition=models.Q(('phone_index', ''), _negated=True), fields=['phone_index'], name='governance_subject_phone'),
        ),
    ]
