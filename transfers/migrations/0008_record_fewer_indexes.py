"""Records lose their indexes on the upload and on the subject alone (unused: see the model)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0004_subject_phone_hash_index'),
        ('transfers', '0007_deletion_scan'),
    ]

    operations = [
        migrations.AlterField(
            model_name='record',
            name='subject',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='governance.datasubject', verbose_name='정보주체'),
        ),
        migrations.AlterField(
            model_name='record',
            name='upload',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='records', to='transfers.upload', verbose_name='업로드'),
        ),
    ]
